"""IMER label maps, count table, benchmark config validation, and the bound-fold invariants of the session stream.

The `tiny_*` builders make a 4-session benchmark (CASME II → SAMM → MMEW → CAS(ME)^3) from
hand-written manifests and 8-px face crops; test_incremental_runner.py reuses them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mer import config as mer_config
from mer import h5, paths
from mer.datasets.manifest import MANIFEST_COLUMNS
from mer.errors import ConfigError, InputDataError
from mer.incremental.config import benchmark_config
from mer.incremental.labels import IMER_CLASSES, session_labels
from mer.incremental.learner import LabelSpace, Learner, SessionData, register_learner
from mer.incremental.sessions import build_stream, make_stream_folds, session_split
from mer.training.inputs import InputSources
from tests.conftest import REPO

SESSIONS = ("casme2", "samm", "mmew", "casme3_a")
# Per session: the corpus emotions dealt to its clips (a dropped one included where IMER drops any).
EMOTIONS = {
    "casme2": ["happiness", "disgust", "others", "repression", "surprise", "fear"],
    "samm": ["anger", "contempt", "happiness", "other", "surprise", "sadness"],
    "mmew": ["disgust", "happiness", "sadness", "surprise", "fear", "anger"],
    "casme3_a": ["anger", "disgust", "fear", "happy", "others", "sad", "surprise"],
}
SUBJECTS = {"casme2": ["sub01", "sub02", "sub03"], "samm": ["006", "007", "009"], "mmew": ["S01", "S02", "S03"],
            "casme3_a": ["spNO.1", "spNO.2", "spNO.3", "spNO.4"]}  # fmt: skip
CLIPS_PER_SUBJECT = 4
FRAME = 8  # face-crop side in pixels
TRIVIAL = "test_nearest_mean"


def tiny_manifests() -> dict[str, pd.DataFrame]:
    """Hand-written manifests: 3–4 subjects × 4 clips per corpus, emotions dealt round-robin."""
    out = {}
    for dataset in SESSIONS:
        rows, position = [], 0
        for subject in SUBJECTS[dataset]:
            for c in range(CLIPS_PER_SUBJECT):
                emotion = EMOTIONS[dataset][position % len(EMOTIONS[dataset])]
                position += 1
                rows.append(
                    {"dataset": dataset, "subject": subject, "clip": f"clip{c}", "onset": 10, "apex": 12, "offset": 14,
                     "emotion": emotion, "label": emotion, "label_index": 0, "action_units": "", "frame_dir": "x"}
                )  # fmt: skip
        out[dataset] = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    return out


def tiny_metas() -> dict[str, dict[str, Any]]:
    """manifest.json sidecars: MMEW's scheme excludes `others`, as `mmew_7class` does."""
    metas = {d: {"scheme": f"{d}_scheme", "excluded": {}} for d in SESSIONS}
    metas["mmew"] = {"scheme": "mmew_7class", "excluded": {"others": 3}}
    return metas


def tiny_params(**changes: Any) -> dict[str, Any]:
    """params.yaml with the four corpora and an `incremental.tiny` benchmark (changes merged in)."""
    params = mer_config.load(REPO / "params.yaml")
    params["datasets"] = {d: {"root": "synthetic", "annotation": None, "scheme": "x"} for d in SESSIONS}
    params["incremental"] = {
        "tiny": {
            "sessions": list(SESSIONS),
            "input": "apex_frame",
            "input_size": FRAME,
            "protocols": [{"name": "slcv", "n_folds": 2, "seed": 0}, {"name": "ilcv", "n_folds": 2, "seed": 1}],
            "learners": [TRIVIAL],
            "backbones": {"resnet": {"model": "resnet18", "kwargs": {}, "pretrained": None}},
            "epochs": 1,
            "epochs_later": 1,
            "batch_size": 4,
            "lr": 0.001,
            "weight_decay": 0.0,
            "seed": 0,
        }
    }
    params["incremental"]["tiny"].update(changes)
    mer_config.validate(params)
    return params


def write_inputs(manifests: dict[str, pd.DataFrame], root: Path) -> InputSources:
    """Face crops and keyframes.csv at the pipeline's paths under `root`.

    Each apex frame is filled with the sample's number: 1, 2, … in manifest order (corpora in
    session order), so a learner's inputs tell which samples it was shown.
    """
    sources = InputSources(
        flow=lambda d, s: root / paths.FLOW.format(dataset=d, subject=s),
        faces=lambda d, s: root / paths.FACES.format(dataset=d, subject=s),
        keyframes=lambda d: root / paths.KEYFRAMES.format(dataset=d),
    )
    number = {key: i + 1 for i, key in enumerate(sample_keys(manifests))}
    for dataset, frame in manifests.items():
        table = sources.keyframes(dataset)
        table.parent.mkdir(parents=True, exist_ok=True)
        keyframes = frame[["dataset", "subject", "clip", "onset", "apex", "offset"]]
        # an "annotated" triple whose apex is the onset frame (blank), to tell the triples apart
        keyframes.assign(onset_annotated=10, apex_annotated=10, offset_annotated=14).to_csv(table, index=False)
        for subject, rows in frame.groupby("subject"):
            with h5.open_for_write(sources.faces(dataset, subject)) as out:
                for clip in rows["clip"]:
                    frames = np.zeros((3, FRAME, FRAME, 3), dtype=np.uint8)
                    frames[1] = number[(dataset, subject, clip)]
                    group = h5.create_group(out, clip)
                    h5.create_dataset(group, "frames", frames)
                    h5.create_dataset(group, "frame_numbers", np.array([10, 12, 14], dtype=np.int32))
    return sources


def sample_keys(manifests: dict[str, pd.DataFrame]) -> list[tuple[str, str, str]]:
    """(dataset, subject, clip) of every manifest row, corpora in session order."""
    return [k for frame in manifests.values() for k in zip(frame["dataset"], frame["subject"], frame["clip"])]


@register_learner(TRIVIAL)
class NearestMean(Learner):
    """A test learner: nearest class mean over global emotions; records the inputs it was taught."""

    def __init__(self, config: Any, labels: LabelSpace) -> None:
        super().__init__(config, labels)
        self.seen: list[np.ndarray] = []
        self.sessions: list[SessionData] = []
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}

    def learn(self, session: SessionData) -> None:
        self.sessions.append(session)
        flat = session.x.flatten(1).double().numpy()
        self.seen.append(flat)
        for row, label in zip(flat, session.y_global.tolist(), strict=True):
            self.sums[label] = self.sums.get(label, 0) + row
            self.counts[label] = self.counts.get(label, 0) + 1

    def global_scores(self, x: Any) -> Any:
        import torch

        scores = torch.full((len(x), len(self.labels.global_names)), float("-inf"), dtype=torch.float64)
        flat = x.flatten(1).double()
        for label, total in self.sums.items():
            mean = torch.from_numpy(total / self.counts[label])
            scores[:, label] = -((flat - mean) ** 2).sum(1)
        return scores

    def parameter_counts(self) -> dict[str, int]:
        return {"total": len(self.sums), "trainable": 0}


# ---- label maps and count table -------------------------------------------------------------


def test_imer_maps_cover_each_corpus_and_resolve_aliases() -> None:
    maps = {d: session_labels(d) for d in IMER_CLASSES}
    assert maps["samm"].kept["other"] == "others"
    assert maps["casme3_a"].kept["happy"] == "happiness"
    assert maps["mmew"].kept["sadness"] == "sad"
    assert maps["casme2"].dropped == ("fear", "sadness")
    assert [len(m.kept) for m in maps.values()] == [5, 5, 6, 7]  # the paper's 23 fine classes


def test_unknown_label_is_an_error_naming_the_sample() -> None:
    manifests, metas = tiny_manifests(), tiny_metas()
    manifests["samm"].loc[5, "emotion"] = "Other"  # a raw spelling the registry would have normalised
    with pytest.raises(InputDataError) as caught:
        build_stream([session_labels(d) for d in SESSIONS], manifests, metas)
    message = str(caught.value)
    assert "dataset=samm" in message and "subject=007" in message and "clip=clip1" in message and "'Other'" in message


def test_custom_classes_and_corpora_without_a_map() -> None:
    labels = session_labels("casme2", ["happiness", "surprise"])
    assert labels.dropped == ("disgust", "repression", "others", "sadness", "fear")
    with pytest.raises(ConfigError, match="must be corpus emotions"):
        session_labels("casme2", ["happiness", "joy"])
    with pytest.raises(ConfigError, match="no IMER label map"):
        session_labels("smic_hs")


def test_stream_labels_fine_classes_and_count_table() -> None:
    stream = build_stream([session_labels(d) for d in SESSIONS], tiny_manifests(), tiny_metas())
    assert stream.labels.global_names[:3] == ("disgust", "happiness", "others")
    assert stream.labels.fine_names[:5] == tuple(
        f"casme2/{e}" for e in ("disgust", "happiness", "others", "repression", "surprise")
    )
    assert "samm/others" in stream.labels.fine_names and "mmew/others" not in stream.labels.fine_names
    assert len(stream.labels.fine_names) == 5 + 5 + 5 + 7
    assert "fear" not in set(stream.rows.loc[stream.rows["dataset"] == "casme2", "emotion"])
    for row in stream.rows.itertuples():
        assert stream.labels.fine_names[row.fine_index] == f"{row.dataset}/{row.global_emotion}"
        assert stream.labels.fine_to_global[row.fine_index] == row.global_index
        assert stream.labels.fine_session[row.fine_index] == row.session
    counts = {(c["dataset"], c["emotion"]): c for c in stream.counts}
    assert counts[("casme2", "fear")]["status"] == "dropped" and counts[("casme2", "fear")]["n_manifest"] == 2
    assert counts[("casme2", "fear")]["n_used"] == 0
    assert counts[("casme2", "happiness")]["n_used"] == 2
    assert counts[("mmew", "others")]["n_scheme_excluded"] == 3 and "mmew_7class" in counts[("mmew", "others")]["note"]
    assert counts[("mmew", "anger")]["status"] == "dropped"
    assert sum(c["n_used"] for c in stream.counts) == len(stream.rows)


# ---- benchmark config -----------------------------------------------------------------------


def test_benchmark_config_builds_learner_configs() -> None:
    params = tiny_params(overrides={TRIVIAL: {"memory": 7}}, settings={TRIVIAL: {"alpha": 1}})
    bench = benchmark_config(params, "tiny")
    assert bench.datasets == SESSIONS and list(bench.protocols) == ["slcv", "ilcv"]
    config = bench.learner_config(TRIVIAL, "resnet", 3, "cpu")
    assert (config.backbone, config.memory, config.settings, config.head, config.rch_aggregation) == (
        "resnet18",
        7,
        {"alpha": 1},
        "rch",
        "sum",
    )
    with pytest.raises(ConfigError, match="backbone 'vit'"):
        bench.learner_config(TRIVIAL, "vit", 3, "cpu")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"learners": ["nope"]}, "unknown learner 'nope'"),
        ({"backbones": {"vit": {"model": "vit_huge"}}}, "unknown backbone 'vit_huge'"),
        ({"sessions": ["casme2", "smic_hs"]}, "not among the configured datasets"),
        ({"protocols": ["slcv", {"name": "slcv", "n_folds": 3}]}, "listed twice"),
        ({"settings": {"der": {}}}, "not learners of the benchmark"),
        ({"classes": {"smic_hs": ["positive"]}}, "not sessions of the benchmark"),
    ],
)
def test_benchmark_config_rejects_bad_names(changes: dict[str, Any], message: str) -> None:
    params = tiny_params()
    params["incremental"]["tiny"].update(changes)
    with pytest.raises(ConfigError, match=message):
        benchmark_config(params, "tiny")


def test_keyframe_choice_is_refused_for_flow_inputs() -> None:
    params = tiny_params(input="rise_flow", keyframes="spotted")
    with pytest.raises(ConfigError, match="face-based inputs only"):
        benchmark_config(params, "tiny")
    assert benchmark_config(tiny_params(keyframes="annotated"), "tiny").keyframes == "annotated"


def test_documented_example_config_is_valid() -> None:
    text = (REPO / "docs" / "imer.md").read_text()
    example = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    params = mer_config.load(REPO / "params.yaml")
    params.update(example)
    mer_config.validate(params)
    bench = benchmark_config(params, "imer")
    assert bench.datasets == SESSIONS and bench.keyframes == "annotated"
    assert ("vit", "l2p") in bench.pairs() and ("resnet", "l2p") not in bench.pairs()
    assert bench.learner_config("der", "vit", 3, "cpu").memory == 180


def test_schema_rejects_unknown_keys() -> None:
    params = tiny_params()
    bad = copy.deepcopy(params)
    bad["incremental"]["tiny"]["epoch"] = 3
    with pytest.raises(ConfigError, match="incremental.tiny"):
        mer_config.validate(bad)
    bad = copy.deepcopy(params)
    bad["incremental"]["tiny"]["overrides"] = {TRIVIAL: {"seed": 1}}
    with pytest.raises(ConfigError, match="overrides"):
        mer_config.validate(bad)


# ---- folds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol", [{"name": "slcv", "n_folds": 2, "seed": 0}, {"name": "ilcv", "n_folds": 3, "seed": 0}]
)
def test_bound_fold_invariants(protocol: dict[str, Any]) -> None:
    stream = build_stream([session_labels(d) for d in SESSIONS], tiny_manifests(), tiny_metas())
    folds = make_stream_folds(stream, protocol)
    assert make_stream_folds(stream, protocol) == folds  # deterministic
    width = 2 if protocol["name"] == "slcv" else 3
    for t, dataset in enumerate(SESSIONS):
        session_rows = stream.rows[stream.rows["session"] == t]
        units = {tuple(r) for r in session_rows[["dataset", "subject", "clip"][:width]].itertuples(index=False)}
        tested: list[tuple[str, ...]] = []
        for k in range(protocol["n_folds"]):
            train, test = session_split(stream, folds, k, t)
            # train_t ⊆ session t, test_t ⊆ session t, and the two are disjoint at the protocol's level
            assert set(train["dataset"]) == {dataset} and set(test["dataset"]) == {dataset}
            train_units = {tuple(r) for r in train[["dataset", "subject", "clip"][:width]].itertuples(index=False)}
            test_units = {tuple(r) for r in test[["dataset", "subject", "clip"][:width]].itertuples(index=False)}
            assert not train_units & test_units
            assert train_units | test_units == units
            if protocol["name"] == "slcv":  # no subject on both sides
                assert not set(train["subject"]) & set(test["subject"])
            tested += sorted(test_units)
        # the folds' test parts partition the session
        assert sorted(tested) == sorted(units)


def test_fold_binding_names_one_split_per_session() -> None:
    stream = build_stream([session_labels(d) for d in SESSIONS], tiny_manifests(), tiny_metas())
    folds = make_stream_folds(stream, {"name": "slcv", "n_folds": 2, "seed": 0})
    assert folds["n_folds"] == 2 and len(folds["hash"]) == 64
    for fold in folds["folds"]:
        assert [part["dataset"] for part in fold["sessions"]] == list(SESSIONS)
        assert sorted(fold["test"]) == sorted(u for part in fold["sessions"] for u in part["test"])
