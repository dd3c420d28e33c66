"""Command-line options of DICOM input and output, shared by ``spinerad extract`` and ``spinerad predict``."""


def _threshold(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return value


def add_dicom_arguments(parser, positive_int):
    """Add --series, --segment, --roi, --seg-threshold and --dicom-out to a subcommand's parser."""
    parser.add_argument(
        "--series", metavar="UID", help="SeriesInstanceUID to read from an image folder of several series"
    )
    parser.add_argument(
        "--segment", type=positive_int, metavar="N", help="segment number of a DICOM SEG mask"
    )
    parser.add_argument(
        "--roi", metavar="NAME", help="ROI name of an RTSTRUCT mask (or segment label of a SEG)"
    )
    parser.add_argument(
        "--seg-threshold",
        type=_threshold,
        default=0.5,
        metavar="T",
        help="FRACTIONAL SEG: voxels with value >= T are in the ROI (default 0.5)",
    )
    parser.add_argument(
        "--dicom-out",
        metavar="DIR",
        help="also write the results as DICOM: seg.dcm (the ROI) and sr.dcm (TID 1500 SR)",
    )


def load_from_args(args, label):
    """Load the study named by a parsed command line (image, mask and the DICOM options)."""
    from .study import load_study

    return load_study(args.image, args.mask, args.series, args.segment, args.roi, label, args.seg_threshold)
