from pathlib import Path

import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.errors import InputError
from bridge.osc_io import encode_bundle, encode_message
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


@pytest.mark.parametrize("path, args", [
    ("/coevo/phrase/notes", ["p00001", 0, *[v for k in range(64) for v in (60 + k % 12, k / 8, 0.25, 90, k % 2)]]),
    ("/coevo/pong", []),
    ("/coevo/error", ["", "abc", "abcd", "héllo ✓", True, False, -5, 2 ** 31 - 1, -1.5e-3]),
])
def test_encoded_messages_are_what_python_osc_builds_and_reads(path: str, args: list[object]) -> None:
    builder = OscMessageBuilder(path)
    for value in args:
        builder.add_arg(int(value) if isinstance(value, bool) else value,
                        "i" if isinstance(value, int) else "f" if isinstance(value, float) else "s")
    data = encode_message(path, args)
    assert data == builder.build().dgram
    parsed = OscMessage(data)
    assert parsed.address == path
    assert parsed.params == pytest.approx([int(v) if isinstance(v, bool) else v for v in args], rel=1e-6)


def test_an_encoded_bundle_holds_its_messages_to_apply_at_once() -> None:
    bundle = OscBundle(encode_bundle([encode_message("/coevo/visual/frame", [3, 0.5]),
                                      encode_message("/coevo/state", ["x"])]))
    assert bundle.timestamp == IMMEDIATELY
    assert [(m.address, m.params) for m in bundle] == [("/coevo/visual/frame", [3, 0.5]), ("/coevo/state", ["x"])]
