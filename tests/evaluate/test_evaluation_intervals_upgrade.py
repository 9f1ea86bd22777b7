"""A home whose evaluations were stored before intervals gets the interval columns when it is
opened, its figures kept (their intervals unknown), and new figures store theirs."""

from __future__ import annotations

from react_assets.evaluate.domain import DomainEvaluation, EvaluatedModel, store_domain_evaluation
from react_assets.evaluate.uncertainty import Interval
from react_assets.metadata import open_store


def columns(store) -> list[str]:
    return store.read(lambda conn: [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'evaluations' "
        "ORDER BY ordinal_position").fetchall()])


def test_an_older_home_gains_the_interval_columns_and_keeps_its_figures(react_paths):
    store = open_store(react_paths.root)

    def make_it_old(conn) -> None:
        conn.execute("ALTER TABLE evaluations DROP COLUMN ci_low")
        conn.execute("ALTER TABLE evaluations DROP COLUMN ci_high")
        conn.execute("DELETE FROM schema_migrations WHERE name = 'evaluation_intervals'")
        conn.execute("INSERT INTO evaluations VALUES ('base@1', 'base', 'shapes', 'shapes-test', "
                     "'zeroshot_classification', 'accuracy', 0.5, 10, NULL, current_timestamp, "
                     "NULL)")

    store.write(make_it_old)
    assert "ci_low" not in columns(store)

    store = open_store(react_paths.root)
    assert columns(store)[-2:] == ["ci_low", "ci_high"]
    assert store.read(lambda conn: conn.execute(
        "SELECT value, ci_low, ci_high FROM evaluations").fetchall()) == [(0.5, None, None)]

    model = EvaluatedModel("react-shapes@1", "gated-image", bundle=None)
    evaluation = DomainEvaluation("shapes", retrieval={("react-shapes@1", "captions"): {
        "text_to_image_R@1": 0.3}}, intervals={("react-shapes@1", "captions",
                                                "text_to_image_R@1"): Interval(0.3, 0.2, 0.4, 0.95)})
    assert store_domain_evaluation(store, evaluation, [model]) == 1
    assert store.read(lambda conn: conn.execute(
        "SELECT model_id, ci_low, ci_high FROM evaluations ORDER BY model_id").fetchall()) == [
        ("base@1", None, None), ("react-shapes@1", 0.2, 0.4)]
