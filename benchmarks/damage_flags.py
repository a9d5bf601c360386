"""How many bench bags the solver's damage check flags, per suite and condition (no solving).

Bags flagged neither for noise nor for JPEG take exactly the code path they took before the check
existed, so this tells which bench cells a change to the damaged-bag path can move. Prints a
markdown table and writes JSON.

    python benchmarks/damage_flags.py --suite standard --samples 1000 --out flags.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fragments_bench import SUITES  # noqa: E402

from unshuffle.fragments.bags.damage import apply_damage, parse_condition  # noqa: E402
from unshuffle.fragments.bags.sampling import FragmentSampler  # noqa: E402
from unshuffle.fragments.bench import open_bench_data  # noqa: E402
from unshuffle.fragments.solver.quality import detect_damage  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", nargs="+", default=list(SUITES))
    p.add_argument("--samples", type=int, default=None, help="override every suite's sample count")
    p.add_argument("--data", default=None, help="override the data path")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    rows = []
    for name in args.suite:
        fields, samples = SUITES[name]
        samples = args.samples or samples
        data = args.data or fields["data"]
        images = open_bench_data(data, fields.get("image_size"))
        sampler = FragmentSampler(images, fields["images_per_sample"], fields["grid"], seed=0)
        for spec in fields["conditions"]:
            cond = parse_condition(spec)
            found = [detect_damage(apply_damage(sampler.sample(i), cond, 0, i).fragments) for i in range(samples)]
            rows.append({"suite": name, "condition": cond.name, "samples": samples,
                         "noise": sum(f["noise"] for f in found), "jpeg": sum(f["jpeg"] for f in found),
                         "flagged": sum(f["noise"] or f["jpeg"] for f in found)})
            print(f"{name} {cond.name}: {rows[-1]['flagged']} of {samples} flagged", file=sys.stderr)
    print("| suite | condition | samples | noise | JPEG | flagged |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['suite']} | {r['condition']} | {r['samples']} | {r['noise']} | {r['jpeg']} | {r['flagged']} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
