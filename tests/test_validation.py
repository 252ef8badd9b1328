"""Tool arguments are checked before anything is sent: what is refused and what is accepted."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pd_mcp import validation
from pd_mcp.errors import InvalidArgument

ID_RULE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

REFUSED_IDS = [
    pytest.param("a/b", id="slash"),
    pytest.param("/abs", id="leading-slash"),
    pytest.param("../etc", id="dotdot-slash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dotdot"),
    pytest.param("a?b", id="question"),
    pytest.param("a#b", id="hash"),
    pytest.param("a&b", id="ampersand"),
    pytest.param("ds?user_id=other", id="query-injection"),
    pytest.param("a%2Fb", id="percent-escape"),
    pytest.param("%2E%2E", id="percent-dotdot"),
    pytest.param("", id="empty"),
    pytest.param(" ds1", id="leading-space"),
    pytest.param("ds1 ", id="trailing-space"),
    pytest.param("ds 1", id="inner-space"),
    pytest.param("ds1\n", id="trailing-newline"),
    pytest.param("ds\n1", id="inner-newline"),
    pytest.param("ds\t1", id="tab"),
    pytest.param("ds\x00", id="nul"),
    pytest.param("a" * 129, id="129-chars"),
    pytest.param("a" * 1000, id="1000-chars"),
    pytest.param("dätaset", id="umlaut"),
    pytest.param("датасет", id="cyrillic"),
    pytest.param("数据集", id="cjk"),
    pytest.param("ｄｓ１", id="fullwidth"),
    pytest.param("ds1\u200b", id="zero-width-space"),
    pytest.param("\u212a", id="kelvin-sign"),
    pytest.param("ds:1", id="colon"),
    pytest.param("ds;1", id="semicolon"),
]

ACCEPTED_IDS = [
    pytest.param("a" * 128, id="128-chars"),
    pytest.param("a.b-c_d", id="all-punctuation"),
    pytest.param("..a", id="dotdot-prefix"),
    pytest.param("a..", id="dotdot-suffix"),
    pytest.param("...", id="three-dots"),
    pytest.param("x", id="one-char"),
    pytest.param("dset-cm5axptyyxxx298", id="realistic"),
    pytest.param("ABC-123_xyz.v2", id="mixed-case"),
]


@pytest.mark.parametrize("value", REFUSED_IDS)
def test_dataset_id_refused(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.dataset_id(value)
    assert info.value.argument == "dataset_id"
    # The message says what is wrong and what a dataset id looks like.
    assert "dataset_id" in info.value.message
    assert "1 to 128" in info.value.message


@pytest.mark.parametrize("value", ACCEPTED_IDS)
def test_dataset_id_accepted_unchanged(value: str) -> None:
    assert validation.dataset_id(value) == value


@pytest.mark.parametrize("value", [None, 123, 1.5, b"ds1", ["ds1"], {"id": "ds1"}, True])
def test_dataset_id_must_be_a_string(value: object) -> None:
    with pytest.raises(InvalidArgument):
        validation.dataset_id(value)


def test_dataset_id_message_names_the_offending_character() -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.dataset_id("abc/def")
    assert "'/'" in info.value.message


def test_dataset_id_message_names_the_length() -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.dataset_id("a" * 129)
    assert "129" in info.value.message


@given(st.text(max_size=140))
def test_dataset_id_property_arbitrary_text(text: str) -> None:
    try:
        result = validation.dataset_id(text)
    except InvalidArgument:
        assert not ID_RULE.fullmatch(text) or text in (".", "..")
        return
    assert result == text
    assert ID_RULE.fullmatch(text)
    assert text not in (".", "..")


@given(st.from_regex(r"[A-Za-z0-9._-]{1,128}", fullmatch=True).filter(lambda s: s not in (".", "..")))
def test_dataset_id_property_every_valid_id_accepted(text: str) -> None:
    assert validation.dataset_id(text) == text


@given(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
        lambda s: any(not (c.isascii() and (c.isalnum() or c in "._-")) for c in s)
    )
)
def test_dataset_id_property_any_foreign_character_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        validation.dataset_id(text)


# --- timeout_seconds -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 1.0, 1.5, 45, 45.0, 899.99, 900, 900.0])
def test_timeout_accepted(value: float) -> None:
    assert validation.timeout_seconds(value) == float(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0.5, id="0.5"),
        pytest.param(0, id="0"),
        pytest.param(0.999, id="0.999"),
        pytest.param(-1, id="negative"),
        pytest.param(900.001, id="900.001"),
        pytest.param(901, id="901"),
        pytest.param(math.nan, id="nan"),
        pytest.param(math.inf, id="inf"),
        pytest.param(-math.inf, id="-inf"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param("45", id="string"),
        pytest.param("abc", id="word"),
        pytest.param(None, id="none"),
        pytest.param([45], id="list"),
    ],
)
def test_timeout_refused(value: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.timeout_seconds(value)
    assert info.value.argument == "timeout_seconds"
    assert "timeout_seconds" in info.value.message


def test_timeout_huge_integer_refused_as_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        validation.timeout_seconds(10**400)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_timeout_property(value: float) -> None:
    try:
        result = validation.timeout_seconds(value)
    except InvalidArgument:
        assert math.isnan(value) or not 1 <= value <= 900
        return
    assert 1 <= result <= 900
    assert result == value
