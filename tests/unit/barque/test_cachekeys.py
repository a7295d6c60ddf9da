"""Cache keys: what changes them, what does not, and how a change is explained."""

from __future__ import annotations


from barque.cachekeys import cache_key, explain_change, key_components
from barque.plans import Step
from barque.trust import env_digest

from .graphs import inp, node

STEP = Step("p.py:b", "p.py:b", (), ("p.py:a",), (("x", ("p.py:a",)),))


def key_of(n, inputs=None, params=None, env=None):
    return key_components(n, STEP, inputs or {"x": ["content-1"]}, params or {}, env or {})


def test_same_components_give_the_same_key():
    b = node("b", inputs=(inp("x", "a"),))
    assert cache_key(key_of(b)) == cache_key(key_of(b))


def test_input_content_changes_the_key():
    b = node("b", inputs=(inp("x", "a"),))
    assert cache_key(key_of(b)) != cache_key(key_of(b, inputs={"x": ["content-2"]}))


def test_retries_timeout_description_and_tags_do_not_change_the_key():
    b = node("b", inputs=(inp("x", "a"),))
    tweaked = b._replace(retries=5, timeout_seconds=9.0, description="d", tags=("t",))
    assert cache_key(key_of(b)) == cache_key(key_of(tweaked))


def test_serializer_changes_the_key():
    b = node("b", inputs=(inp("x", "a"),))
    assert cache_key(key_of(b)) != cache_key(key_of(b._replace(serializer="pickle")))


def test_only_params_the_function_takes_count():
    b = node("b", inputs=(inp("x", "a"),))._replace(params=("x", "day"))
    assert cache_key(key_of(b, params={"other": "1"})) == cache_key(key_of(b))
    assert cache_key(key_of(b, params={"day": "1"})) != cache_key(key_of(b))


def test_declared_env_values_count_and_unset_differs_from_empty():
    b = node("b", inputs=(inp("x", "a"),))._replace(env=("REGION",))
    # Values enter as their keyed digests (barque.trust), never in clear.
    assert cache_key(key_of(b, env={})) != cache_key(key_of(b, env={"REGION": env_digest("REGION", "", None, b"salt")}))


def test_explain_names_the_changed_helper():
    b = node("b", inputs=(inp("x", "a"),))._replace(helpers=(("util.py:clean", "1"),))
    new = b._replace(helpers=(("util.py:clean", "2"),))
    assert explain_change(key_of(b), key_of(new)) == "changed: helper util.py:clean"


def test_explain_names_code_input_and_first_materialization():
    b = node("b", inputs=(inp("x", "a"),))
    assert explain_change(None, key_of(b)) == "never materialized"
    assert explain_change(key_of(b), key_of(b._replace(code_hash="other"))) == "changed: code"
    assert explain_change(key_of(b), key_of(b, inputs={"x": ["content-2"]})) == "changed: input x"
    assert explain_change(key_of(b), key_of(b, inputs={"x": ["content-2"]}), b) == "changed: input a"


def test_the_node_id_is_part_of_the_key():
    # Same body, same helpers, same inputs, in two files: two entries (issue 7, item 2).
    a = node("b", inputs=(inp("x", "a"),))
    twin = a._replace(id="q.py:b", file="q.py")
    assert cache_key(key_of(a)) != cache_key(key_of(twin))
    assert explain_change(key_of(a), key_of(twin)) == "changed: node identity"
