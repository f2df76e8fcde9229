"""The sample images in `events/images/`, regenerated deterministically from `bench.corpus`.

    python -m bench.samples [--out events/images]

Each image is a rendered page with known text (written beside it as `<name>.truth.txt`) and one
degradation that real scans and phone photos show.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.common import Parser, output_folder
from bench.corpus import degrade, make_page
from local_stack.samples import truth_path

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "events" / "images"
MAX_BYTES = 200 * 1024


@dataclass(frozen=True)
class SampleSpec:
    """One sample: where it goes, how it is rendered, which degradation it carries."""

    path: str
    seed: int
    font: str
    font_px: int
    degradation: str


SAMPLES: tuple[SampleSpec, ...] = (
    SampleSpec("clean.png", 2101, "sans", 26, "clean"),
    SampleSpec("uneven-light.jpg", 2102, "serif", 28, "uneven_illumination"),
    SampleSpec("stained.jpg", 2103, "sans", 26, "stains"),
    SampleSpec("low-contrast.jpg", 2104, "serif", 26, "faded_ink"),
    SampleSpec("colored-paper.jpg", 2105, "mono", 24, "colored_paper"),
    SampleSpec("letters/shadowed scan.jpg", 2106, "sans", 28, "shadow"),
)


def render(sample: SampleSpec) -> tuple[bytes, str]:
    """The encoded image (PNG or JPEG by suffix, at most `MAX_BYTES`) and its true text."""
    page = degrade(
        make_page(sample.seed, width=1000, height=700, font=sample.font, font_px=sample.font_px),
        sample.degradation,
        sample.seed,
    )
    image = Image.fromarray(page.image)
    buffer = io.BytesIO()
    if sample.path.lower().endswith(".png"):
        image.convert("L").save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format="JPEG", quality=85, optimize=True)
    data = buffer.getvalue()
    if len(data) > MAX_BYTES:
        raise ValueError(f"{sample.path}: {len(data)} bytes exceeds {MAX_BYTES}")
    return data, page.text


def generate(folder: Path = DEFAULT_FOLDER) -> list[Path]:
    """Write every sample and its truth file under `folder`; return the image paths."""
    written = []
    for sample in SAMPLES:
        data, text = render(sample)
        path = folder / sample.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        truth_path(path).write_text(text + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m bench.samples", description="Regenerate the sample images deterministically."
    )
    parser.add_argument("--out", type=output_folder, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
