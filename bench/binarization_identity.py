"""Whether this tree's binarizer gives the same pixels as another revision's, on a fixed set of pages.

`python -m bench.binarization_identity [--against REV]` (default `main`) exports REV's `ocr_service`
and `bench` (`git archive`) to a temporary folder, binarizes the pages there in a subprocess, does
the same with this tree, and compares every output pixel for pixel. For speed work: a change meant
to leave the output alone must report 0 differing pages. Exit status 0 when every page is
identical, 1 when any differs, 2 on a usage error (not in a git checkout, unknown revision).

The pages: the DIBCO dev set (`bench.binarization_real.dibco_dir`, as given and scaled 2x, when the
folder is there), the generated corpus (every degradation), the already-binary renders, the phone
photos, the real scan, A4 300 dpi pages with nine degradations and an A4 phone photo; `flatten`
(contrast correction) on a part of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.binarization_real import dibco_dir, documents
from bench.common import Parser, Pixels, real_scan

ROOT = Path(__file__).resolve().parents[1]
A4_DEGRADATIONS = (
    "shadow",
    "stains",
    "noise",
    "inverted_region",
    "bleed_through",
    "uneven_illumination",
    "low_resolution",
    "faded_ink",
    "blur",
)
FLATTENED = ("dibco/", "corpus/p0", "photo/", "a4/shadow", "a4/inverted")
"""Name prefixes of the pages `flatten` also runs on."""


def pages() -> Iterator[tuple[str, Pixels]]:
    """(name, RGB image) of every page compared."""
    from bench.corpus import A4_300DPI, binary_pages, corpus, degrade, make_page, photo_pages

    folder = dibco_dir()
    for doc in documents(folder) if folder.is_dir() else []:
        yield f"dibco/{doc.name}", doc.image
        yield f"dibco2x/{doc.name}", cv2.resize(doc.image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    for group, samples in (("corpus", corpus()), ("binary", binary_pages()), ("photo", photo_pages())):
        for sample in samples:
            yield f"{group}/{sample.name}", sample.page.image
    yield "real_scan", real_scan().page.image
    for index, name in enumerate(A4_DEGRADATIONS):
        font, size = ("serif" if index % 2 == 0 else "sans"), (42 if index % 3 else 30)
        page = make_page(5 + index, width=A4_300DPI[0], height=A4_300DPI[1], font=font, font_px=size)
        yield f"a4/{name}", degrade(page, name, 5 + index).image
    for sample in photo_pages(quick=True, width=2480, height=1754):
        yield f"photo-a4/{sample.name}", sample.page.image


def outputs() -> dict[str, Pixels]:
    """Every page binarized (`bin:` names) and, for some, flattened (`flat:`) by the importable tree."""
    from ocr_service.engines.binarize import binarize, flatten

    out: dict[str, Pixels] = {}
    for name, image in pages():
        out[f"bin:{name}"] = binarize(image)
        if name.startswith(FLATTENED):
            out[f"flat:{name}"] = flatten(image)
    return out


def compare(reference: dict[str, Pixels], current: dict[str, Pixels]) -> list[str]:
    """One line per output that differs from (or is missing in) `reference`."""
    lines = []
    for name, image in current.items():
        old = reference.get(name)
        if old is None:
            lines.append(f"{name}: not in the reference")
        elif old.shape != image.shape:
            lines.append(f"{name}: shape {image.shape} != {old.shape}")
        elif not np.array_equal(old, image):
            lines.append(f"{name}: {int(np.count_nonzero(old != image))} of {image.size} pixels differ")
    return lines


def _reference(rev: str, folder: Path) -> Path:
    """Run this module on `rev`'s exported tree; the .npz of its outputs."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "ocr_service", "bench"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise ValueError(f"cannot export {rev!r}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    target = folder / "reference.npz"
    # this file's `outputs`, with `ocr_service` and `bench` imported from the exported tree
    code = (
        "import sys, runpy; sys.path.insert(0, sys.argv[1]); import numpy as np, ocr_service; "
        "assert ocr_service.__file__.startswith(sys.argv[1]), ocr_service.__file__; "
        "np.savez_compressed(sys.argv[2], **runpy.run_path(sys.argv[3])['outputs']())"
    )
    env = {**os.environ, "BENCH_DIBCO_DIR": str(dibco_dir())}
    subprocess.run(
        [sys.executable, "-c", code, str(folder), str(target), __file__], check=True, cwd=folder, env=env
    )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m bench.binarization_identity", description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git revision to compare with (default: main)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            reference_file = _reference(args.against, Path(tmp))
        except ValueError as error:
            print(f"binarization_identity: {error}", file=sys.stderr)
            return 2
        with np.load(reference_file) as data:
            reference = {name: data[name] for name in data.files}
    current = outputs()
    lines = compare(reference, current)
    for line in lines:
        print(line)
    same = len(current) - len(lines)
    print(f"{len(current)} outputs against {args.against}: {same} identical, {len(lines)} differ")
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())
