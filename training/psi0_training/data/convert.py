"""rosbag2 episodes -> dataset: the driver behind `psi0 convert`.

Each bag is hashed, converted (or found already converted in the work
directory `<out>.work`), checked against the quality thresholds, and the
included episodes are assembled into `<out>` atomically. A bag that cannot be
read is skipped with its reason; the others still convert.
"""
from __future__ import annotations

import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from psi0_training.data.assemble import assemble
from psi0_training.data.bagio import BagError, inspect_bag
from psi0_training.data.config import ConvertConfig, QualityThresholds
from psi0_training.data.episode import convert_episode


def find_bags(paths) -> list[Path]:
    """Bag directories from arguments: a bag itself, or a directory whose subdirectories are bags."""
    bags = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        if (p / "metadata.yaml").exists() or not p.is_dir():
            bags.append(p)
            continue
        inner = sorted(d for d in p.iterdir() if (d / "metadata.yaml").exists())
        bags += inner if inner else [p]     # a directory without bags is reported as a bad bag
    return bags


def work_dir_for(out: Path) -> Path:
    out = Path(out).resolve()
    return out.parent / f"{out.name}.work"


def _one(bag: Path, cfg: ConvertConfig, th: QualityThresholds, work: Path, progress: bool) -> tuple[str, dict]:
    try:
        info = inspect_bag(bag)
        report = convert_episode(info, cfg, th, work, progress)
        report["source"] = str(info.path)   # a resumed episode may have been converted from another copy
        return "done", report
    except BagError as exc:
        return "skipped", {"source": str(Path(bag).resolve()), "reason": str(exc)}


def convert(bags, out: Path, cfg: ConvertConfig = ConvertConfig(), th: QualityThresholds = QualityThresholds(),
            overwrite: bool = False, jobs: int = 1, progress: bool = True, keep_work: bool = False,
            log=print) -> dict:
    out = Path(out).resolve()
    bags = [Path(b).resolve() for b in find_bags(bags)]
    for b in bags:
        if out == b or b in out.parents:
            raise ValueError(f"output {out} is inside the source bag {b}; sources are never written")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    work = work_dir_for(out)
    work.mkdir(parents=True, exist_ok=True)
    log(f"converting {len(bags)} bag(s) -> {out} (work dir {work})")
    results: list[tuple[str, dict]] = []
    bar = tqdm(total=len(bags), desc="episodes", unit="bag", disable=not progress)
    if jobs > 1 and len(bags) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_one, b, cfg, th, work, False) for b in bags]
            for fut in futures:
                results.append(fut.result())
                bar.update()
    else:
        for b in bags:
            results.append(_one(b, cfg, th, work, progress))
            bar.update()
    bar.close()
    reports, skipped, seen = [], [], {}
    for bag, (status, r) in zip(bags, results):
        if status == "skipped":
            skipped.append(r)
            log(f"  SKIPPED  {r['reason']}")
        elif r["sha256"] in seen:
            skipped.append({"source": r["source"], "sha256": r["sha256"],
                            "reason": f"duplicate of {seen[r['sha256']]} (same content)"})
            log(f"  SKIPPED  {bag}: duplicate of {seen[r['sha256']]}")
        else:
            seen[r["sha256"]] = r["source"]
            reports.append(r)
            if r["included"]:
                log(f"  ok       {bag}: {r['quality']['frames']} frames, task {r['task']!r}")
            else:
                log(f"  EXCLUDED {bag}: " + "; ".join(r["exclusion_reasons"]))
    summary = assemble(out, reports, skipped, cfg, th, overwrite)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {out}: {summary['episodes']} episodes, {summary['frames']} frames, {summary['tasks']} task(s); "
        f"{summary['excluded']} excluded, {summary['skipped']} skipped (meta/quality.json)")
    return summary
