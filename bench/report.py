"""`SUMMARY.md` tables and PNG plots from the benchmarks' result dictionaries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import service_throughput


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def binarization_md(r: dict[str, Any]) -> list[str]:
    names = r["methods"]
    rows = [[deg, *(f"{r['f_measure'][deg][n]:.1f}" for n in names)] for deg in r["f_measure"]]
    rows.append(["**mean of degraded**", *(f"**{r['mean_f_degraded'][n]:.1f}**" for n in names)])
    rows.append(
        [f"MPix/s, A4 300 dpi ({r['a4_megapixels']:.1f} MP)", *(f"{r['mpix_per_s'][n]:.0f}" for n in names)]
    )
    goal = r["goal"]
    verdict = "met" if goal["met_by_ours"] else "NOT met"
    return [
        "## Binarization: ink F-measure (0-100) per degradation, speed",
        "",
        *_table(["degradation", *names], rows),
        f"Goal (>= {goal['mpix_per_s']:.0f} MPix/s at mean ink F >= {goal['mean_f']:.0f} on degraded pages): "
        f"**{verdict}** by the project's method.",
        *(
            [f"Speed ratio to the box-filter Sauvola, same run: {r['speed_ratio_to_box_sauvola']:.2f}x.", ""]
            if "speed_ratio_to_box_sauvola" in r
            else [""]
        ),
        *(real_documents_md(r["real_documents"]) if "real_documents" in r else []),
        *(already_binary_md(r["already_binary"]) if "already_binary" in r else []),
        *(binary_reading_md(r["binary_reading"]) if "binary_reading" in r else []),
        *(contrast_md(r["contrast_correction"]) if "contrast_correction" in r else []),
    ]


def contrast_md(r: dict[str, Any]) -> list[str]:
    """`makeContrastCorrection` candidates: CER per degradation."""
    columns = r["columns"]
    rows = [[deg, *(f"{row[c]:.2f}" for c in columns)] for deg, row in r["cer_percent"].items()]
    rows.append(["**mean of degraded**", *(f"**{r['mean_degraded_percent'][c]:.2f}**" for c in columns)])
    return [
        "## Contrast correction (`makeContrastCorrection`): Tesseract CER (%), internal Sauvola",
        "",
        *_table(["degradation", *columns], rows),
    ]


def real_documents_md(r: dict[str, Any]) -> list[str]:
    """Per-year and per-image tables of the DIBCO section (or the reason it was skipped)."""
    title = "## Binarization on real documents (DIBCO / H-DIBCO 2009-2012 development set)"
    if "skipped" in r:
        return [title, "", f"Skipped: {r['skipped']}.", ""]
    names = r["methods"]
    metric_rows = []
    for year, row in [*r["per_year"].items(), ("**all**", r["mean"])]:
        metric_rows.append(
            [
                year,
                *(
                    f"{row[n]['f']:.1f} / {row[n]['pseudo_f']:.1f} / {row[n]['psnr']:.1f} / "
                    f"{row[n]['drd']:.1f}"
                    for n in names
                ),
            ]
        )
    image_rows = [[image, *(f"{row[n]['f']:.1f}" for n in names)] for image, row in r["per_image"].items()]
    gap = r["ours_vs_otsu"]
    goal = r["goal"]
    return [
        title,
        "",
        f"{r['images']} images. Cells: F / pseudo-F / PSNR (dB) / DRD (lower is better).",
        "",
        *_table(["year", *names], metric_rows),
        "Ink F-measure per image:",
        "",
        *_table(["image", *names], image_rows),
        *_loyo_md(r.get("leave_one_year_out")),
        f"Images where ours is more than {goal['max_below_otsu']:.0f} points below Otsu: "
        f"{gap['images_more_than_3_below']} (worst {gap['worst_image']}, {gap['worst_gap']:+.1f}). "
        f"Goal (mean F >= {goal['mean_f']:.0f}, none > {goal['max_below_otsu']:.0f} below Otsu): "
        f"**{'met' if goal['met_by_ours'] else 'NOT met'}**.",
        "",
    ]


def _loyo_md(r: dict[str, Any] | None) -> list[str]:
    if not r:
        return []
    rows = [
        [
            year,
            ", ".join(f"{k}={v}" for k, v in fold["chosen"].items()),
            f"{fold['held_out_f_chosen']:.1f}",
            f"{fold['held_out_f_default']:.1f}",
        ]
        for year, fold in r["folds"].items()
    ]
    grid = "; ".join(f"{k} in {v}" for k, v in r["grid"].items())
    return [
        f"Leave one year out (grid: {grid}; tuned on the other years, F on the held-out year):",
        "",
        *_table(["held-out year", "chosen on the other years", "F chosen", "F defaults"], rows),
        f"Defaults chosen in {r['default_chosen']} of {len(r['folds'])} folds; mean held-out F "
        f"{r['mean_held_out_f_chosen']:.1f} (tuned) vs {r['mean_held_out_f_default']:.1f} (defaults).",
        "",
    ]


def already_binary_md(r: dict[str, Any]) -> list[str]:
    """Already-binary renders: pixels unchanged and CER before / after binarization."""
    rows = [
        [
            name,
            f"{row['unchanged_percent']:.2f}",
            f"{row['cer_raw_percent']:.2f}",
            f"{row['cer_binarized_percent']:.2f}",
        ]
        for name, row in r["per_image"].items()
    ]
    goal = r["goal"]
    return [
        "## Binarization of already black-and-white pages",
        "",
        *_table(["page", "pixels unchanged %", "CER raw %", "CER after ours %"], rows),
        f"Goal (>= {goal['unchanged_percent']:.0f} % unchanged, CER not higher): "
        f"**{'met' if goal['met_by_ours'] else 'NOT met'}**.",
        "",
    ]


def _cer_rows(section: dict[str, Any], columns: list[str], by: str) -> list[list[str]]:
    """A CER table's rows: one per text size, one per `cer_percent_by_<by>` key, then the mean."""
    rows = [
        [key, *(f"{row[c]:.2f}" for c in columns)]
        for key, row in {**section["cer_percent_by_size"], **section[f"cer_percent_by_{by}"]}.items()
    ]
    rows.append(["**mean**", *(f"**{section['mean_cer_percent'][c]:.2f}**" for c in columns)])
    return rows


def binary_reading_md(r: dict[str, Any]) -> list[str]:
    """Tesseract CER on black-and-white pages of held-out faces: hard edges vs anti-aliased, on
    thresholded renders and (when measured) on binarized degraded pages and phone photos."""
    columns = r["columns"]
    rows = _cer_rows(r, columns, "font")
    lines = [
        f"## Reading black-and-white pages: CER (%) on {r['pages']} pages in faces outside the corpus",
        "",
        *_table(["text size / face", *columns], rows),
    ]
    if "binarized" in r:
        b = r["binarized"]
        b_rows = _cer_rows(b, b["columns"], "degradation")
        lines += [
            f"Binarized degraded pages in the same faces ({b['pages']} pages): CER (%)",
            "",
            *_table(["text size / degradation", *b["columns"]], b_rows),
        ]
    if "photos" in r:
        p = r["photos"]
        p_rows = _cer_rows(p, p["columns"], "font")
        deskews = ", ".join(f"{c} {s:.1f} s" for c, s in p["cpu_seconds"].items())
        lines += [
            f"Binarized phone photos in the same faces ({p['pages']} pages, RecognizeImage's default "
            "preprocessing): CER (%)",
            "",
            *_table(["text size / face", *p["columns"]], p_rows),
            f"CPU (preprocessing and reading): {deskews}.",
            "",
        ]
        if "auto_decisions" in p:
            decided = ", ".join(f"{why} {n}" for why, n in sorted(p["auto_decisions"].items()))
            lines += [f"`auto` on these photos (its decision from their statistics): {decided}.", ""]
    return [
        *lines,
        f"CPU: {r['cpu_seconds'][columns[1]]:.1f} s anti-aliased against "
        f"{r['cpu_seconds'][columns[0]]:.1f} s with hard edges ({r['cpu_ratio']:.2f}x).",
        "",
    ]


def ocr_md(r: dict[str, Any]) -> list[str]:
    columns = r["columns"]
    labels = {
        "raw": "raw (service; Tesseract internal Sauvola)",
        "binarized": "BinarizeImage -> RecognizeImage",
        "engine_otsu": "engine direct, Tesseract Otsu",
        "ink_mask": "exact ink mask -> RecognizeImage",
    }

    def cell(row: dict[str, float], column: str) -> str:
        return f"{row[column]:.2f}" if column in row else "-"

    rows = [[deg, *(cell(r["cer_percent"][deg], c) for c in columns)] for deg in r["cer_percent"]]
    rows.append(["**mean of degraded**", *(f"**{r['mean_cer_degraded_percent'][c]:.2f}**" for c in columns)])
    return [
        f"## OCR accuracy: CER (%) per degradation ({r['images']} images, via the service's HTTP API)",
        "",
        *_table(["degradation", *(labels.get(c, c) for c in columns)], rows),
    ]


def auto_md(r: dict[str, Any]) -> list[str]:
    lines = [
        "## `auto` binarization mode",
        "",
        f"Seeded stratified split (seed {r['split']['seed']}): {r['split']['train']} training images, "
        f"{r['split']['held_out']} held out. Label = the path with the lower CER (ties count as correct).",
        "",
    ]
    rows = []
    for name in ("current", "tuned"):
        for part in ("train", "held_out", "all"):
            e = r[name][part]
            if not e.get("images"):
                continue
            c = e["mean_cer_percent"]
            rows.append(
                [
                    name,
                    part,
                    str(e["images"]),
                    f"{e['decision_accuracy_percent']:.0f}",
                    f"{c['auto']:.2f}",
                    f"{c['always']:.2f}",
                    f"{c['never']:.2f}",
                    f"{c['oracle']:.2f}",
                    f"{e['ocr_tasks_per_image']['auto']:.2f}",
                ]
            )
    lines += _table(
        [
            "thresholds",
            "split",
            "images",
            "decision acc. %",
            "auto CER %",
            "always",
            "never",
            "oracle",
            "tasks/img",
        ],
        rows,
    )
    per = r["tuned"]["per_degradation_all"]
    lines += ["Per degradation, all images, tuned thresholds (CER %):", ""]
    lines += _table(
        ["degradation", "auto", "always", "never", "auto binarizes %"],
        [
            [
                d,
                f"{v['auto']:.2f}",
                f"{v['always']:.2f}",
                f"{v['never']:.2f}",
                f"{v['auto_binarized_share']:.0f}",
            ]
            for d, v in per.items()
        ],
    )
    lines += [
        "Tuned on the training split: "
        + _changes(r["thresholds"]["current"], r["thresholds"]["tuned"])
        + ".",
        "",
    ]
    rep = r.get("repeated_held_out", {})
    if rep.get("splits"):
        c = rep["mean_cer_percent"]
        lines += [
            f"Over {rep['splits']} seeded splits (tune on one half, score the other): mean held-out CER auto "
            f"{c['auto']:.2f} %, always {c['always']:.2f} %, never {c['never']:.2f} %, oracle "
            f"{c['oracle']:.2f} %; auto no worse than the better fixed mode in "
            f"{rep['auto_no_worse_than_best_fixed']} of {rep['splits']} splits.",
            "",
        ]
    if "fitted_on_all" in r:
        e = r["fitted_on_all"]["all"]
        cers = e["mean_cer_percent"]
        lines += [
            "Fitted on all images (the values to adopt; in-sample, so optimistic): "
            + _changes(r["thresholds"]["current"], r["thresholds"]["fitted_on_all"])
            + f"; auto CER {cers['auto']:.2f} % vs always {cers['always']:.2f} %, "
            f"{e['ocr_tasks_per_image']['auto']:.2f} OCR tasks per image vs 2.",
            "",
        ]
    return lines


def _changes(before: dict[str, float], after: dict[str, float]) -> str:
    changed = [f"`{k}` {before[k]} -> {v}" for k, v in after.items() if before[k] != v]
    return ", ".join(changed) if changed else "no change"


def polling_md(r: dict[str, Any]) -> list[str]:
    rows = r["model"]["rows"]
    jobs = list(next(iter(rows.values())))
    table = []
    for name, row in rows.items():
        cells = [_lag_cell(row[j]) for j in jobs]
        table.append([name, *cells])
    lines = [
        "## Polling: vendor API calls, detection lag and state transitions per image",
        "",
        f"Model (endpoint mode: binarization + recognition, task times as measured x the slowdown, "
        f"jittered +-{100 * r['model']['jitter']:.0f} %), {r['model']['megapixels']} MP:",
        "",
        *_table(["schedule", *(f"slowdown x{float(j):g}" for j in jobs)], table),
    ]
    if r["measured"]:
        measured = [
            [
                m["schedule"],
                f"{m['job_seconds_true']:.2f}",
                f"{m.get('median_calls', float('nan')):.1f}",
                f"{m['median_lag_seconds']:.2f}",
                f"{m['model_lag_seconds']:.2f}",
                f"{m['median_transitions']:.0f}",
                str(m["model_transitions"]),
            ]
            for m in r["measured"]
        ]
        lines += [
            "Measured in the local stack (median of the images per point) next to the model:",
            "",
            *_table(
                ["schedule", "job s (true)", "calls", "lag s", "model lag s", "transitions", "model tr."],
                measured,
            ),
            f"Median residual (measured - model lag): {r['model_residual_seconds_median']:.2f} s "
            "(local Lambda + moto overhead).",
            "",
        ]
    return lines


def _lag_cell(out: dict[str, Any]) -> str:
    share = 100 * out["median_lag_share"]
    calls = f"{out['median_calls']:g} calls, " if "median_calls" in out else ""
    return f"{calls}{out['median_lag_seconds']:.2f} s ({share:.0f} %), {out['median_transitions']:.0f} tr"


def throughput_md(r: dict[str, Any]) -> list[str]:
    s = r["stack"]
    return [
        "## Throughput",
        "",
        *_table(
            ["path", "images", "seconds", "images/min"],
            [
                [
                    "engine direct (binarize, perspective + deskew, Tesseract; 2 threads)",
                    str(r["direct"]["images"]),
                    f"{r['direct']['seconds']:.1f}",
                    f"{r['direct']['images_per_minute']:.0f}",
                ],
                [
                    "whole local stack (burst)",
                    str(s["burst"]),
                    f"{s['seconds']:.1f}",
                    f"{s['images_per_minute']:.0f}",
                ],
            ],
        ),
        f"Stack / direct: {r['stack_vs_direct']:.2f}. Burst of {s['burst']}: {s['texts']} texts, "
        f"{s['failure_records']} failure records, **{s['lost']} lost**. Peak RSS during the burst: bench "
        f"process {s['peak_rss_mb']['bench_process_during_burst']:.0f} MiB (moto, handlers, engines; "
        f"{s['peak_rss_mb'].get('bench_process_before_stack', 0.0):.0f} MiB of it resident before the stack "
        "started, left by the benchmarks run before in this process), OCR "
        f"service {s['peak_rss_mb']['ocr_service']:.0f} MiB. Transitions per image "
        f"{s['transitions_per_image']:.1f}, status checks {s['checks_per_image']:.1f} (local waits 1-2 s).",
        "",
        *(f"- failure record: {kind} (x{count})" for kind, count in s.get("failure_errors", {}).items()),
        "",
        *_time_and_cpu(r),
        *_variant_burst(r.get("stack_variant")),
    ]


def _time_and_cpu(r: dict[str, Any]) -> list[str]:
    """Where an image's time and the machine's CPU went (runs recorded before this split have none)."""
    s = r["stack"]
    split, cpu = s.get("seconds_per_image_breakdown"), s.get("cpu_seconds")
    if not split or not cpu:
        return []
    parts = " · ".join(f"{name} {seconds:.2f}" for name, seconds in split.items())
    used = " · ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    return [
        f"Seconds per image (means over the sampled executions): {parts}.",
        "",
        f"CPU seconds: {used}; {s['cpu_seconds_per_image']:.2f} per image against "
        f"{r['direct']['cpu_seconds_per_image']:.2f} direct, so with every core busy the stack reaches at "
        f"most {r['stack_vs_direct_cpu_bound']:.2f}x of direct on this machine.",
        "",
        *_requests_line(s),
    ]


def _requests_line(s: dict[str, Any]) -> list[str]:
    requests = s.get("aws_requests_per_image")
    if not requests:
        return []
    listed = " · ".join(f"{kind} {count:.2f}" for kind, count in requests.items())
    return [
        f"AWS requests per image (the functions', as moto served them; the uploads excepted): {listed}; "
        f"{sum(requests.values()):.1f} in all.",
        "",
    ]


def _variant_burst(s: dict[str, Any] | None) -> list[str]:
    if not s:
        return []
    return [
        f"With {', '.join(f'{k}={v}' for k, v in s['params'].items())}, a burst of "
        f"{s['burst']}: {s['images_per_minute']:.0f} images/min, "
        f"{s['transitions_per_image']:.1f} transitions and {s['checks_per_image']:.1f} Wait-loop checks per "
        f"image, {s['texts']} texts, "
        f"{s['failure_records']} failure records, {s['lost']} lost.",
        "",
    ]


def _memory_line(r: dict[str, Any]) -> list[str]:
    memory = r.get("bench_process_memory_mb")
    if not memory:
        return []
    return [
        "",
        f"Bench process RSS: {memory['before_stack']:.0f} MiB before the stack, "
        f"{memory['stack_started']:.0f} MiB once started, {memory['all_ended']:.0f} MiB once every "
        f"execution ended (peak {memory['peak']:.0f} MiB, "
        f"{r['bench_process_peak_threads']} threads at most).",
    ]


def burst_md(r: dict[str, Any]) -> list[str]:
    f = r["faults"]
    rss = r["peak_rss_mb"]
    workers = ", ".join(f"{name.rsplit('-', 1)[-1]} {mb} MiB" for name, mb in rss["lambda_workers"].items())
    per_function = [
        [
            name.rsplit("-", 1)[-1],
            str(r["invocations"].get(name, 0)),
            str(r["reserved_concurrency"].get(name) or "-"),
            str(r["peak_concurrent_invocations"].get(name, 0)),
            ", ".join(f"{kind} {n}" for kind, n in r["throttled_invocations"].get(name, {}).items()) or "0",
        ]
        for name in r["peak_concurrent_invocations"]
    ]
    return [
        "## Burst with faults",
        "",
        f"{r['burst']} objects at once; OCR service: {100 * f['rate_429']:.0f} % HTTP 429, "
        f"{100 * f['rate_5xx']:.0f} % 503, {100 * f['error_rate']:.0f} % failed tasks, "
        f"{100 * f['lost_rate']:.0f} % lost results, tasks slowed by {f['slow_seconds']:.0f} s; "
        f"{100 * f['duplicate_rate']:.0f} % of S3 notifications delivered twice.",
        "",
        f"Wall {r['wall_seconds']:.0f} s (uploads {r['upload_seconds']:.1f} s): {r['texts']} texts, "
        f"{r['failure_records']} failure records, **{r['lost']} lost**, {r['duplicate_executions']} "
        f"duplicate executions; {r['accepted_tasks_per_image']:.2f} accepted OCR tasks and "
        f"{r['api_calls_per_image']:.1f} API calls per image. Peak RSS: bench process (moto, runner) "
        f"{rss['bench_process (moto, runner)']:.0f} MiB, OCR service {rss['ocr_service']:.0f} MiB, "
        f"workers {workers}.",
        *_memory_line(r),
        "",
        *_requests_line(r),
        *_table(["function", "invocations", "reserved", "peak concurrent", "throttled"], per_function),
        *(f"- failure record: {kind} (x{count})" for kind, count in r.get("failure_errors", {}).items()),
        "",
    ]


def cost_md(r: dict[str, Any]) -> list[str]:
    rows = [
        [
            name,
            f"{v['step_functions_standard']:.4f}",
            f"{v['step_functions_express']:.4f}",
            f"{v['lambda']:.4f}",
            f"{v['s3']:.4f}",
            f"{v.get('dynamodb', 0.0):.4f}",
            f"{v.get('secrets_manager', 0.0):.4f}",
            f"**{v['total']:.4f}**",
            "yes" if r["meets_goal"][name] else "no",
        ]
        for name, v in r["per_1000_images"].items()
    ]
    return [
        "## Cost per 1,000 images on AWS (USD, us-east-1 list prices, OCR vendor fee excluded)",
        "",
        *_table(
            [
                "design",
                "SFN Standard",
                "SFN Express",
                "Lambda",
                "S3",
                "DynamoDB",
                "Secrets Manager",
                "total",
                f"<= ${r['goal_per_1000']:.2f}",
            ],
            rows,
        ),
        f"A Standard loop stays under ${r['goal_per_1000']:.2f} only with at most "
        f"{r['min_standard_transitions_for_goal']:.0f} transitions per image, before any Lambda or S3 cost. "
        "S3, DynamoDB and Secrets Manager come from the AWS requests the local burst made per image "
        "(DynamoDB request units: `bench.cost.DYNAMODB_UNITS`).",
        "",
    ]


def summary(results: dict[str, Any], header: Sequence[str]) -> str:
    """The whole `SUMMARY.md`: a header, then a section per benchmark present in `results`."""
    lines = list(header)
    sections = {
        "binarization": binarization_md,
        "ocr_accuracy": ocr_md,
        "auto_mode": auto_md,
        "polling": polling_md,
        "throughput": throughput_md,
        "burst": burst_md,
        "cost": cost_md,
        "service": service_throughput.markdown,
    }
    for name, render in sections.items():
        if name in results:
            lines += render(results[name])
    return "\n".join(lines).rstrip() + "\n"


def plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """PNG plots where a picture reads better: speed vs quality, CER per degradation, polling lag."""
    written: list[Path] = []
    if "binarization" in results:
        r = results["binarization"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in r["methods"]:
            ax.scatter(r["mpix_per_s"][name], r["mean_f_degraded"][name], s=40)
            ax.annotate(name, (r["mpix_per_s"][name], r["mean_f_degraded"][name]), fontsize=7)
        ax.set_xscale("log")
        ax.axhline(r["goal"]["mean_f"], ls=":", c="grey")
        ax.axvline(r["goal"]["mpix_per_s"], ls=":", c="grey")
        ax.set_xlabel("MPix/s on an A4 300 dpi page (log)")
        ax.set_ylabel("mean ink F-measure, degraded pages")
        written.append(_save(fig, out_dir / "binarization.png"))
    if "ocr_accuracy" in results:
        r = results["ocr_accuracy"]
        degs = list(r["cer_percent"])
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / len(r["columns"])
        for i, column in enumerate(r["columns"]):
            ax.bar(
                [d + i * width for d in range(len(degs))],
                [r["cer_percent"][d].get(column, 0.0) for d in degs],
                width,
                label=column,
            )
        ax.set_xticks(
            [d + 0.4 - width / 2 for d in range(len(degs))], degs, rotation=45, ha="right", fontsize=8
        )
        ax.set_ylabel("CER %")
        ax.legend()
        written.append(_save(fig, out_dir / "ocr_accuracy.png"))
    if "polling" in results:
        rows = results["polling"]["model"]["rows"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, row in rows.items():
            jobs = [float(row[j]["job_seconds"]) for j in row]
            ax.plot(jobs, [100 * row[j]["median_lag_share"] for j in row], marker="o", label=name)
        ax.axhline(25, ls=":", c="grey")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("job seconds")
        ax.set_ylabel("median lag, % of job time")
        ax.legend(fontsize=7)
        written.append(_save(fig, out_dir / "polling.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
