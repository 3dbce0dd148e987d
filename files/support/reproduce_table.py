"""reproduce.py's outputs: the results table, its plots, the machine it ran on, the README.

`summarize` turns the runs of one example into a row (the book's number beside this
machine's, a verdict); `write_outputs` writes results.md, results.json and results.png (and
the book's curves beside the image stages'); `update_readme` puts a block (the table that
run_records writes from the committed records) into the README between its two marker
comments.

Its own module so that reproduce.py reads as the list of steps of a run; not a book section.
"""

import json
import statistics
from pathlib import Path

from support import outputs
from support.errors import InputError

import helpers

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------


def summarize(entry, records, smoke=False, epochs=None, changed=()):
    """One row of the table from the runs of one example (one per seed); smoke: they were
    --smoke runs, whose numbers are not comparable with the book's; epochs: how many the
    runs had, when --epochs shortened them; changed: other flags --args gave them."""
    row = {"name": entry["name"], "metric": entry["metric"], "book": entry["book"],
           "source": entry["source"], "split": entry["split"],
           "command": records[0]["command"], "smoke": smoke,
           "seconds": statistics.median(record["seconds"] for record in records)}
    finished = [record for record in records if record["status"] == "ok"]
    if not finished:
        worst = next((r for r in records if r["status"] == "crashed"), records[0])
        row.update(verdict=worst["status"], reason=shorten(worst.get("reason", "")))
        return row
    values = [float(record["fields"][entry["metric"]]) for record in finished]
    row.update(measured=statistics.median(values), low=min(values), high=max(values),
               runs=len(values))
    if entry["book"] is None:
        row["verdict"] = "ran (no book number)"
    elif smoke:
        row["verdict"] = "ran (smoke: tiny data, not comparable)"
    else:
        lower_is_better = entry.get("lower_is_better", False)
        shortfall = (row["measured"] - entry["book"]) if lower_is_better else \
            (entry["book"] - row["measured"])
        row["verdict"] = "within" if shortfall <= entry["band"] else "below"
    if any(record["fields"].get("weights") == "none" for record in finished):
        row["verdict"] += " (untrained VGG16: weights=none)"
    if entry["metric"] == "pngs" and any("class_index" not in record["fields"]
                                         for record in finished):  # visualize's RESULT
        row["verdict"] += " (Grad-CAM skipped: the weights hold no ImageNet classifier)"
    if epochs is not None and entry.get("epochs"):
        row["shortened"] = f"{epochs} of the book's {entry['epochs']} epochs"
        row["verdict"] += f" (shortened: {row['shortened']})"
    start = [int(record["fields"]["features_augment_epochs"]) for record in finished  # finetune
             if str(record["fields"].get("features_augment_epochs", "")).isdigit()]
    if start and entry.get("needs_epochs") and min(start) < entry["needs_epochs"]:
        row["verdict"] += (f" (from a features-augment model of {min(start)} of the book's "
                           f"{entry['needs_epochs']} epochs)")
    if changed:
        row["changed"] = " ".join(changed)
        row["verdict"] += f" (not the book's settings: {row['changed']})"
    recorded = [record["recorded"] for record in finished if record.get("recorded")]
    if recorded:
        row["recorded"] = recorded
    return row


def shorten(text, limit=160):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_value(metric, value):
    if value is None:
        return "-"
    if metric.endswith("accuracy"):
        return f"{value:.1%}"
    if metric == "pngs":
        return f"{value:.0f} PNGs"
    if metric == "seconds":
        return f"{value:.0f} s"
    return f"{value:.2f}"


def markdown_table(rows):
    """The table; a `machine` column when the rows carry one (the README's, from records)."""
    machines = any("machine" in row for row in rows)
    lines = ["| example | metric | book | measured | wall time | command | "
             + ("machine | " if machines else "") + "verdict |",
             "| --- | --- | --- | --- | --- | --- | " + ("--- | " if machines else "") + "--- |"]
    for row in rows:
        book = format_value(row["metric"], row["book"])
        book += f" ({row['source']}, {row['split']})"
        if "measured" in row:
            measured = format_value(row["metric"], row["measured"])
            if row["runs"] > 1:
                measured += (f" (median of {row['runs']}; {format_value(row['metric'], row['low'])}"
                             f" to {format_value(row['metric'], row['high'])})")
        else:
            measured = "-"
        verdict = row["verdict"] + (f": {row['reason']}" if row.get("reason") else "")
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.0f} s"
        seconds += " (recorded run)" if row.get("recorded") else ""
        command = f"`{row['command']}`" if row["command"] else "-"
        machine = f"{row.get('machine') or '-'} | " if machines else ""
        lines.append(f"| {row['name']} | {row['metric']} | {book} | {measured} | "
                     f"{seconds} | {command} | {machine}{verdict} |")
    return "\n".join(lines) + "\n"


def plot_results(rows, path):
    """Book vs measured, one row per example with a number; accuracies and errors apart."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    groups = [("accuracy (higher is better)", [r for r in rows if r["metric"].endswith(
        "accuracy") and r["book"] is not None]),
              ("mean absolute error (lower is better)", [r for r in rows if r["metric"].endswith(
                  "mae") and r["book"] is not None])]
    groups = [(title, group) for title, group in groups if group]
    # One panel per kind of number, each as tall as its rows.
    heights = [len(group) for _, group in groups] or [1]
    figure, axes = plt.subplots(len(heights), 1, squeeze=False, figsize=(8, 1.5 + 0.45 * sum(
        heights) + 0.6 * len(heights)), gridspec_kw={"height_ratios": heights})
    for axis, (title, group) in zip(axes[:, 0], groups, strict=False):
        positions = range(len(group))
        axis.scatter([r["book"] for r in group], positions, marker="|", s=300, color="black")
        measured = [(i, r) for i, r in enumerate(group) if "measured" in r]
        axis.scatter([r["measured"] for _, r in measured], [i for i, _ in measured],
                     color=["tab:green" if r["verdict"].startswith("within") else "tab:red"
                            for _, r in measured], zorder=3)
        for i, r in enumerate(group):
            if "measured" not in r:
                axis.annotate(r["verdict"], (r["book"], i), xytext=(8, -4),
                              textcoords="offset points", fontsize=8, color="grey")
        # An example with two numbers (bostonhousing) names the metric on each row.
        names = [r["name"] for r in group]
        axis.set_yticks(list(positions), [f"{r['name']} ({r['metric']})" if names.count(
            r["name"]) > 1 else r["name"] for r in group])
        axis.set_ylim(len(group) - 0.5, -0.5)  # first example on top, half a row of margin
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(handles=[
            Line2D([], [], marker="|", markersize=12, color="black", ls="", label="book"),
            Line2D([], [], marker="o", color="tab:green", ls="", label="measured: within band"),
            Line2D([], [], marker="o", color="tab:red", ls="", label="measured: below")],
            loc="lower left", fontsize=8)
    figure.tight_layout()
    return outputs.save_figure(figure, path)


IMAGE_STAGES = ["convnet-scratch", "convnet-augment", "convnet-features",
                "convnet-features-augment", "convnet-finetune"]


def plot_book_curves(curves, path):
    """The validation accuracy of every image stage that ran, beside the book's run of it
    (dashed), by training pictures seen; each panel's title gives their mean distance."""
    import matplotlib.pyplot as plt

    columns = min(3, len(curves))
    rows = -(-len(curves) // columns)
    figure, axes = plt.subplots(rows, columns, squeeze=False,
                                figsize=(4.6 * columns, 3.6 * rows + 0.4))
    for axis, (name, metrics) in zip(axes.flat, curves, strict=False):
        book = metrics["book_history"]["history"]
        for values, per_epoch, style, label in (
                (metrics["history"]["val_accuracy"], book["this_run_examples_per_epoch"], "-",
                 "measured"),
                (book["history"]["val_accuracy"], book["examples_per_epoch"], "--",
                 "book, 1st ed.")):
            per_epoch = per_epoch or book["examples_per_epoch"]
            axis.plot(helpers.epoch_axis(len(values), per_epoch), values, style,
                      color="tab:orange", alpha=1 if style == "-" else 0.8, label=label)
        distance = book["distance"].get("val_accuracy")
        title = name.removeprefix("convnet-")
        if distance:
            title += (f"\nmean |difference| {distance['mean_abs_difference']:.3f} over "
                      f"{distance['points']} epochs")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("training pictures seen (thousands)")
        axis.set_ylabel("validation accuracy")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(curves):]:
        axis.set_visible(False)
    figure.suptitle("Dogs vs cats: validation accuracy, measured vs the book's runs")
    figure.tight_layout()
    return outputs.save_figure(figure, path)


# --------------------------------------------------------------------------------------
# The machine line and the README
# --------------------------------------------------------------------------------------


def machine_line(machine):
    """The machine of this run (results.md), from run_records.describe_machine."""
    return (f"Machine: {machine['cpu']}, {machine['cores']} cores; GPU: {machine['gpu']}; "
            f"Keras {machine['keras']} on {machine['keras_backend']} (TensorFlow "
            f"{machine['tensorflow']}), Python {machine['python']}.")


def update_readme(readme, block):
    """Replace what stands between the two marker comments in the README with `block`."""
    text = Path(readme).read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise InputError(f"{readme} has no {README_START} ... {README_END} markers "
                         f"around its results table")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    outputs.save_atomically(Path(readme), lambda partial: partial.write_text(
        f"{head}{README_START}\n{block}{README_END}{tail}", encoding="utf-8", newline="\n"))


def write_outputs(folder, rows, image_curves, total, machine):
    """results.md, results.json, results.png (and book_curves.png for the image stages) in
    `folder`: this run's table, on this machine (the README's comes from the records).
    Returns the table."""
    table = markdown_table(rows)
    outputs.save_atomically(folder / "results.md", lambda partial: partial.write_text(
        f"{machine_line(machine)}\n\n{table}", encoding="utf-8", newline="\n"))
    outputs.save_atomically(folder / "results.json", lambda partial: partial.write_text(
        json.dumps({"machine": machine, "seconds": total, "rows": rows}, indent=2) + "\n",
        encoding="utf-8", newline="\n"))
    plot_results(rows, folder / "results.png")
    if image_curves:
        plot_book_curves(image_curves, folder / "book_curves.png")
    return table
