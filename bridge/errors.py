"""Coevo's small error hierarchy."""

from __future__ import annotations

__all__ = ["CoevoError", "ConfigError", "ModelError", "InputError", "PortError", "SoundError"]


class CoevoError(Exception):
    """Base of every error Coevo raises on purpose."""


class ConfigError(CoevoError, ValueError):
    """A setting is unknown, of the wrong type or out of range."""


class ModelError(CoevoError):
    """A model file is missing, unreadable, or does not fit the contract."""


class PortError(CoevoError):
    """A MIDI port could not be found or opened."""


class SoundError(CoevoError):
    """Sound input cannot be used: no PortAudio, no such device, or the device refused to open."""


class InputError(CoevoError, ValueError):
    """A message from outside (OSC, MIDI) was rejected; ``code`` is sent back in /coevo/error."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
