"""``speechrnn devices``: the audio inputs PortAudio sees (index, name, host API, default rate)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description="List audio input devices. Use the index or a unique part of the name with "
        "`speechrnn listen --device` and `speechrnn record --device`; * marks the default input.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:  # noqa: ARG001
    from speechrnn.audio.capture import list_input_devices
    from speechrnn.errors import DeviceError

    devices = list_input_devices()
    if not devices:
        raise DeviceError("no audio input device found (connect a microphone; on Linux check PulseAudio/ALSA)")
    for device in devices:
        print(device.describe())
    return 0
