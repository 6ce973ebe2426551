"""Rewrite the bundled sample data (src/leadgrade/data/sample) from its fixed seed."""

from __future__ import annotations

from pathlib import Path

from leadgrade.sample import bundled

OUT = Path(__file__).resolve().parent.parent / "src" / "leadgrade" / "data" / "sample"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in bundled().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name} ({text.count(chr(10)) - 1} rows)")


if __name__ == "__main__":
    main()
