import pandas as pd

from pcsm.book.validate import compare_result_files, compare_tables, tolerance_for

COMMITTED = pd.DataFrame({"d": [1, 2], "method": ["pc", "pc"], "mi": [1.02, 1.24], "wall_s": [3.0, 4.0]})
TOL = {"mi": 0.01, "wall_*": -1}


def test_equal_within_tolerance():
    fresh = COMMITTED.assign(mi=[1.025, 1.235], wall_s=[30.0, 1.0])
    assert compare_tables(fresh, COMMITTED, TOL) == []


def test_difference_names_row_column_and_both_values():
    fresh = COMMITTED.assign(mi=[1.02, 1.30])
    (message,) = compare_tables(fresh, COMMITTED, TOL)
    assert message == "d=2, method=pc: mi fresh 1.3 vs committed 1.24 (tolerance 0.01)"


def test_text_and_integers_must_match_exactly():
    fresh = COMMITTED.assign(method=["pc", "softmax"])
    assert compare_tables(fresh, COMMITTED, TOL) == [
        "d=2, method=pc: method fresh 'softmax' vs committed 'pc'"
    ]


def test_shape_changes_are_reported():
    assert "row count differs" in compare_tables(COMMITTED.head(1), COMMITTED, TOL)[0]
    assert "columns differ" in compare_tables(COMMITTED.drop(columns="mi"), COMMITTED, TOL)[0]


def test_first_matching_glob_wins():
    assert tolerance_for("acc_softmax", {"acc_*": 0.5, "*": 0.1}) == 0.5
    assert tolerance_for("other", {"acc_*": 0.5}) == 1e-9


def test_missing_files_are_reported(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    COMMITTED.to_csv(tmp_path / "old" / "t.csv", index=False)
    assert compare_result_files(tmp_path / "new", tmp_path / "old", ["t"], TOL) == [
        "t.csv: the fresh execution did not write it"
    ]
    COMMITTED.to_csv(tmp_path / "new" / "t.csv", index=False)
    assert compare_result_files(tmp_path / "new", tmp_path / "old", ["t"], TOL) == []
