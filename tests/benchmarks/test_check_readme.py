"""The README's figures trace to JSON files under benchmarks/results/, and the checker notices when they do not."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_readme", ROOT / "benchmarks" / "check_readme.py")
check_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_readme)


def test_every_readme_figure_is_in_its_json():
    assert check_readme.check(ROOT / "README.md") == []


def test_a_figure_that_differs_from_its_json_or_has_none_is_reported(tmp_path, monkeypatch):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "speed.json").write_text(json.dumps({"tok_s": 17.885, "share": 0.9455, "n": 20}))
    monkeypatch.setattr(check_readme, "ROOT", tmp_path)
    readme = tmp_path / "README.md"
    good = (
        "<!-- figures: benchmarks/results/speed.json -->\n"
        "| engine | tok/s | hit |\n|---|---|---|\n| ours | 17.9 | 94.55% of 20 |\n"
    )
    readme.write_text(good)
    assert check_readme.check(readme) == []
    readme.write_text(good.replace("17.9", "18.9"))  # a figure the JSON does not hold
    assert check_readme.check(readme) == ["README.md:4: 18.9 is not in benchmarks/results/speed.json"]
    readme.write_text(good.replace("<!-- figures: benchmarks/results/speed.json -->\n", ""))  # no marker
    assert len(check_readme.check(readme)) == 2
    readme.write_text("It answers in 12 ms (goal < 150 ms).\n")  # a measurement in prose, no JSON behind it
    assert check_readme.check(readme) == ["README.md:1: measured figure '12 ms' has no <!-- figures: ... --> marker"]
    readme.write_text(good.replace("speed.json", "gone.json"))
    assert any("does not exist" in p for p in check_readme.check(readme))
