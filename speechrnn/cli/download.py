"""``speechrnn download speech-commands --version v1|v2|v2-test [--data-dir DIR]``."""

from __future__ import annotations

import argparse

from speechrnn.data.download import ARCHIVES, ENV_BASE_URL, ENV_DATA_DIR

DATASETS = ("speech-commands",)


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text, description=(
            "Download a dataset archive, check its SHA-256 and extract it into the data folder. "
            "An interrupted download resumes where it stopped; data already there is not fetched again. "
            f"The data folder is --data-dir, else ${ENV_DATA_DIR}, else the user cache folder "
            "(~/.cache/speechrnn on Linux)."))
    parser.add_argument("dataset", choices=DATASETS, help="which dataset")
    parser.add_argument("--version", choices=tuple(ARCHIVES), default="v2",
                        help="v1 (30 words), v2 (35 words) or v2-test (the official 12-class test set); default v2")
    parser.add_argument("--data-dir", metavar="DIR", help="where datasets live (default: user cache folder)")
    parser.add_argument("--base-url", metavar="URL",
                        help=f"download from a mirror (also ${ENV_BASE_URL}); default: download.tensorflow.org")
    parser.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz after extracting")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speechrnn.cli.progress import consume
    from speechrnn.data.download import archive_for, download_archive

    folder = consume(download_archive(archive_for(args.version), args.data_dir, args.base_url,
                                      keep_archive=args.keep_archive), quiet=args.quiet)
    print(folder)
    return 0
