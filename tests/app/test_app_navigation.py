"""URLs name what a page shows: a group in ?group= (shown, or said not to exist), a record in
&record=, and the group picked on one page follows the user to the next."""
from __future__ import annotations

from studio_support import fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature


def test_a_missing_group_is_said_to_be_missing_not_replaced(studio_store):
    at = page("group", group="nope")
    assert "Feature group **nope** does not exist" in at.error[0].value
    assert not at.title and not at.tabs and not at.metric  # no other group's page under this URL
    at = page("ingest", group="Customers")
    assert "does not exist" in at.error[0].value and not at.get("file_uploader")
    assert any(link.proto.label == "Did you mean customers?" for link in at.get("page_link"))


def test_a_deleted_group_says_so(fs):
    fs.create_feature_group("gone", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
    fs.delete_feature_group("gone")
    for name in ("group", "time_travel", "ingest"):
        at = page(name, group="gone")
        assert "Feature group **gone** was deleted" in at.error[0].value, name


def test_every_group_url_is_canonical(studio_store):
    at = ok(page("group"))
    first = at.selectbox(key="group_picker").options[0]
    assert at.query_params["group"] == first and at.title[0].value == first  # the first group is named too
    at.selectbox(key="group_picker").set_value("merchants").run()
    assert at.query_params["group"] == "merchants" and at.title[0].value == "merchants"


def test_the_picked_group_follows_the_user_to_other_pages(studio_store):
    at = ok(page("group", group="merchants"))
    for target in ("app_pages/ingest.py", "app_pages/time_travel.py", "app_pages/group.py"):
        at.query_params.clear()  # the sidebar's links carry no query
        at.switch_page(target).run()
        assert at.selectbox(key="group_picker").value == "merchants", target
        assert at.query_params["group"] == "merchants", target


def test_a_record_is_part_of_the_url(fs):
    at = ok(page("group", group="customers", tab="History", record="100578"))
    assert "1 delete marker" in texts(at) and len(at.dataframe[0].value) == len(fs.history("customers", 100578))
    at.selectbox(key="group_picker").set_value("merchants").run()
    assert "record" not in at.query_params  # a customer id means nothing to merchants


def test_lineage_says_when_a_node_is_unknown(studio_store):
    at = page("lineage", node="dataset:nope")
    assert "Lineage has no node **dataset:nope**" in at.error[0].value and at.get("graphviz_chart")
