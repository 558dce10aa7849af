from pathlib import Path

import pytest

from bridge.errors import InputError
from bridge.osc_map import INBOUND, reference_table, validate

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_reference_is_the_generated_table() -> None:
    assert reference_table() in README.read_text(encoding="utf-8")


def test_only_types_pure_data_handles() -> None:
    for address in INBOUND.values():
        assert {a.type for a in address.args + address.optional} <= {"i", "f", "s"}


@pytest.mark.parametrize("path, args, code", [
    ("/coevo/nope", [], "unknown_address"),
    ("/coevo/emotion", [0.1], "bad_arguments"),
    ("/coevo/emotion", ["a", 0.2], "bad_type"),
    ("/coevo/emotion", [1.5, 0.0], "out_of_range"),
    ("/coevo/emotion", [float("nan"), 0.0], "out_of_range"),
    ("/coevo/bars", [9], "out_of_range"),
    ("/coevo/bars", [2.5], "bad_type"),
    ("/coevo/mood", ["hangry"], "out_of_range"),
    ("/coevo/feedback/like", ["p1", "extra"], "bad_arguments"),
])
def test_bad_messages_are_rejected_with_a_code(path: str, args: list[object], code: str) -> None:
    with pytest.raises(InputError) as err:
        validate(path, args)
    assert err.value.code == code


def test_ints_are_accepted_for_floats_and_optional_args() -> None:
    assert validate("/coevo/emotion", [1, -1]) == (1.0, -1.0)
    assert validate("/coevo/bars", [4.0]) == (4,)  # as Pd sends it
    assert validate("/coevo/feedback/like", []) == ()
    assert validate("/coevo/feedback/like", ["p00001"]) == ("p00001",)
