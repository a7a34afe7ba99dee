"""`fashionlab data check` reports every problem, each with its file (and line)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from fashionlab.data.check import check_dataset, format_report
from fashionlab.data.format import Annotations, AttributeSpec, DatasetSchema, DatasetWriter, Item


def make(tmp_path, n=6):
    schema = DatasetSchema(
        name="t",
        attributes=[AttributeSpec("color", ["red", "blue"])],
        image_size=(16, 16),
        annotations=Annotations(keypoints=True),
    )
    with DatasetWriter(tmp_path / "ds", schema) as w:
        (w.root / "images").mkdir()
        for i in range(n):
            Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(w.root / f"images/{i}.png")
            w.add(
                Item(
                    id=str(i),
                    path=f"images/{i}.png",
                    split="train" if i < 4 else "test",
                    attributes={"color": "red" if i % 2 else "blue"},
                    keypoints=[[1.0, 2.0]] * 18,
                )
            )
        w.add_pairs("train", [("0", "1")])
    return tmp_path / "ds"


def test_valid_dataset_is_ok(tmp_path):
    rep = check_dataset(make(tmp_path), progress=False)
    assert rep.ok, format_report(rep)
    assert rep.n_items == 6 and rep.splits == {"train": 4, "test": 2}
    assert rep.value_counts["color"] == {"blue": 3, "red": 3}
    assert "no problems" in format_report(rep)


def test_every_problem_is_reported_with_file_and_line(tmp_path):
    root = make(tmp_path)
    lines = (root / "items.jsonl").read_text().splitlines()
    d = [json.loads(x) for x in lines]
    d[1]["attributes"]["color"] = "teal"  # line 2: unknown value
    d[2]["keypoints"][3] = [99, 5]  # line 3: keypoint outside the image
    d[3]["id"] = "0"  # line 4: duplicate id
    d[4]["path"] = "images/missing.png"  # line 5: missing image
    out = [json.dumps(x) for x in d]
    out.append("{not json")  # line 7: bad JSON
    out.append(json.dumps({**d[5], "id": "6", "split": "holdout"}))  # line 8: unknown split
    (root / "items.jsonl").write_text("\n".join(out) + "\n")
    (root / "images/5.png").write_bytes(b"\x89PNG garbage")  # corrupt image
    Image.fromarray(np.zeros((20, 16, 3), np.uint8)).save(root / "images/0.png")  # wrong size
    (root / "pairs-train.csv").write_text("from,to\n0,1\n0,nobody\n")  # unknown id in pairs
    rep = check_dataset(root, progress=False)
    text = format_report(rep)
    expected = [
        "items.jsonl:2 [attributes.color]",
        "items.jsonl:3 [keypoints]",
        "items.jsonl:4 [id]",
        "items.jsonl:5 [path]",
        "items.jsonl:7",
        "items.jsonl:8 [split]",
        "5.png",
        "0.png: image is 20x16",
        "pairs-train.csv:3",
    ]
    for e in expected:
        assert e in text, f"{e!r} not reported:\n{text}"
    # nothing else, and the unreadable 5.png once per item naming it (item 5 and its line-8 copy)
    assert len(rep.problems) == len(expected) + 1 and text.count("5.png: not a readable image") == 2, text


def test_broken_schema_is_one_clear_problem(tmp_path):
    root = make(tmp_path)
    (root / "dataset.json").write_text('{"format": "fashionlab-dataset", "version": 1, "name": 3}')
    rep = check_dataset(root, progress=False)
    assert len(rep.problems) == 1 and "dataset.json [name]" in str(rep.problems[0])
    rep = check_dataset(tmp_path / "nothing", progress=False)
    assert "not a directory" in str(rep.problems[0])
