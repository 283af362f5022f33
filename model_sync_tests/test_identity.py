"""Identity resolution measured against a hand-labelled set of offerings.

`identity_labels.csv` labels offerings of the recorded payloads by hand (one label per model:
weights at one version; see the labelling notes in its `note` column). Every pair of labelled
offerings is a positive when both have the same label; the resolver's `canonical_id` predicts
it. The test fails below 0.97 pairwise precision or 0.90 recall and prints the misses.
"""

import csv
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import pytest

from model_sync.catalog.identity import Resolver, base_id
from model_sync.sources import SOURCES_BY_NAME
from model_sync.sources.base import loads
from model_sync_tests.conftest import ctx, needs_shared

LABELS = Path(__file__).with_name("identity_labels.csv")
MIN_PRECISION, MIN_RECALL = 0.97, 0.90


def labelled() -> list[dict]:
    with LABELS.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["label"].strip()]


def resolve(payloads: Path, labels: list[dict]) -> dict[tuple[str, str, str], str]:
    """canonical_id of each labelled offering, with every row of the same snapshots known."""
    rows = []
    for source, snapshot in sorted({(r["source"], r["snapshot"]) for r in labels}):
        path = payloads / source / f"{snapshot}.json"
        parsed = SOURCES_BY_NAME[source].parse(loads(path.read_bytes(), source),
                                               ctx(source, snapshot))
        rows += [dict(r, snapshot=snapshot) for r in parsed]
    resolver = Resolver(rows)
    return {(r["source"], r["snapshot"], r["source_key"]): resolver.canonical_id(r) for r in rows}


def pair_scores(labels: list[dict], predicted: dict) -> tuple[float, float, list, list]:
    keyed = [((r["source"], r["snapshot"], r["source_key"]), r["label"]) for r in labels]
    tp = fp = fn = 0
    false_pos, false_neg = [], []
    for (a, label_a), (b, label_b) in combinations(keyed, 2):
        same, guessed = label_a == label_b, predicted[a] == predicted[b]
        if same and guessed:
            tp += 1
        elif guessed:
            fp += 1
            false_pos.append((a, b))
        elif same:
            fn += 1
            false_neg.append((a, b))
    return tp / (tp + fp), tp / (tp + fn), false_pos, false_neg


def test_label_file_is_big_enough_and_covers_the_hard_cases():
    labels = labelled()
    assert len(labels) >= 300
    ids = " ".join(r["model_id"].lower() for r in labels)
    for hard_case in (":free", "@2024", "-v2:0", "instant", "distill", "2024-05-13", "-fp8"):
        assert hard_case in ids, hard_case
    assert len({r["label"] for r in labels}) >= 40


@needs_shared
def test_identity_precision_and_recall_on_the_labelled_set(payloads, capsys):
    labels = labelled()
    predicted = resolve(payloads, labels)
    missing = [r for r in labels if (r["source"], r["snapshot"], r["source_key"]) not in predicted]
    assert not missing, f"labelled offerings not in the payloads: {missing[:3]}"
    precision, recall, false_pos, false_neg = pair_scores(labels, predicted)
    by_key = {(r["source"], r["snapshot"], r["source_key"]): r for r in labels}
    with capsys.disabled():
        n_models = len({r["label"] for r in labels})
        print(f"\nidentity on {len(labels)} labelled offerings ({n_models}"
              f" models): pairwise precision {precision:.4f}, recall {recall:.4f}")
        for name, pairs in (("merged but different", false_pos), ("same but split", false_neg)):
            groups = defaultdict(int)
            for a, b in pairs:
                groups[(predicted[a], predicted[b], by_key[a]["label"], by_key[b]["label"])] += 1
            for (pa, pb, la, lb), n in sorted(groups.items(), key=lambda kv: -kv[1])[:12]:
                print(f"  {name}: {n} pairs: predicted {pa} / {pb}, labelled {la} / {lb}")
    assert precision >= MIN_PRECISION
    assert recall >= MIN_RECALL


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet-20241022"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-20241022"),
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20240620"),
        ("meta-llama/llama-3.1-8b-instruct:free", "llama-3-1-8b-instruct:free"),
        ("accounts/fireworks/models/llama-v3p1-8b-instruct", "llama-3-1-8b-instruct"),
        ("llama-3.1-8b-instant", "llama-3-1-8b-instruct"),
        ("meta-llama/Meta-Llama-3.1-8B", "llama-3-1-8b"),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", "llama-3-1-70b-instruct"),
        ("gpt-4o-2024-05-13", "gpt-4o-20240513"),
    ],
)
def test_the_spellings_the_issue_names(spelling, canonical):
    assert Resolver([], aliases=None).canonical_id({"model_id": spelling}) == canonical


def test_user_aliases_extend_the_table(tmp_path, monkeypatch):
    extra = tmp_path / "aliases.csv"
    extra.write_text("alias,canonical_id,note\nmy-llama,llama-3.1-8b-instruct,house name\n")
    monkeypatch.setenv("MODEL_SYNC_ALIASES_FILE", str(extra))
    assert Resolver([]).canonical_id({"model_id": "acme/my-llama"}) == "llama-3-1-8b-instruct"


def test_an_undated_name_takes_its_only_known_snapshot():
    rows = [{"model_id": "acme-1-20250101", "source": "a"}, {"model_id": "acme-1", "source": "b"}]
    assert Resolver(rows, aliases={}).canonical_id(rows[1]) == "acme-1-20250101"
    rows.append({"model_id": "acme-1-20250601", "source": "a"})
    assert Resolver(rows, aliases={}).canonical_id(rows[1]) == base_id("acme-1")


def test_an_id_listed_by_one_source_or_several_is_known_to_the_others_only():
    rows = [{"model_id": "acme-2", "source": "a"}, {"model_id": "acme-3", "source": "a"},
            {"model_id": "acme-3", "source": "b"}, {"model_id": "acme-3", "source": "a"}]
    resolver = Resolver(rows, aliases={})
    assert not resolver.known_elsewhere("acme-2", "a")
    assert resolver.known_elsewhere("acme-2", "b") and resolver.known_elsewhere("acme-2", None)
    assert resolver.known_elsewhere("acme-3", "a") and resolver.known_elsewhere("acme-3", "b")
    assert resolver.known_elsewhere("acme-3", "c") and not resolver.known_elsewhere("acme-4", "c")
