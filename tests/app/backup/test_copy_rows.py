"""Rows per table from psql's COPY tags: the dump's COPY statements found in a stream."""

from __future__ import annotations

import io

import pytest

from repairgpt.backup.copy_rows import CopyStatements, CopyTags, rows_per_table
from repairgpt.backup.dump import normalise_label

DUMP = (
    b"SET statement_timeout = 0;\n"
    b"CREATE TABLE public.guides (id bigint, body text);\n"
    b"CREATE FUNCTION public.f() RETURNS void AS $$ SELECT 1 $$ LANGUAGE sql;\n"
    b"--\n-- Data for Name: guides; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
    b"COPY public.guides (id, body) FROM stdin;\n"
    b"1\tCOPY public.fake (x) FROM stdin;\n"  # data that looks like a statement
    b"2\tline with a backslash \\\\. in it\n"
    b"3\t\\.not the end\n"
    b"\\.\n"
    b"\n"
    b'COPY public."user" FROM stdin;\n'
    b"\\.\n"
    b'COPY "Odd Schema"."Table ""quoted""" (a, "b c") FROM stdin;\n'
    b"x\ty\n"
    b"\\.\n"
    b"SELECT pg_catalog.setval('public.guides_id_seq', 3, true);\n"
    b"ALTER TABLE ONLY public.guides ADD CONSTRAINT guides_pkey PRIMARY KEY (id);\n"
)
TABLES = ["public.guides", 'public."user"', '"Odd Schema"."Table ""quoted"""']


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 4096])
def test_copy_statements_are_found_whatever_the_piece_boundaries(size: int) -> None:
    found = CopyStatements()
    for start in range(0, len(DUMP), size):
        found.feed(DUMP[start : start + size])
    assert found.tables == TABLES


def test_tags_pair_with_statements_into_manifest_labels() -> None:
    tags = CopyTags(io.BytesIO(b"SET\nCREATE TABLE\nCOPY 3\nCOPY 0\n set_config \nCOPY 1\n"))
    assert tags.wait() == [3, 0, 1]
    rows = rows_per_table(TABLES, [3, 0, 1], normalise_label)
    assert rows == {"public.guides": 3, "public.user": 0, '"Odd Schema"."Table ""quoted"""': 1}


def test_statements_and_tags_that_do_not_pair_up_give_nothing() -> None:
    assert rows_per_table(TABLES, [3, 0], normalise_label) is None
    assert rows_per_table(["public.a.b"], [1], normalise_label) is None  # not schema.table
