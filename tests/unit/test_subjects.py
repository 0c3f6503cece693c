"""The subject grammar (wire layer): synchronous, table-driven, no trio, no server.

Tables follow the subject grammar of Microbus (see docs/design.md, "Subjects"),
adapted to actorbus: instance and "all replicas" tokens carry a ``~`` marker, and reply inboxes
end with the message id.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorbus._wire import subjects as subj
from actorbus._wire.subjects import SubjectError

# -- strategies -------------------------------------------------------------------------------

_labels = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=8)
hostnames = (
    st.lists(_labels, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: h != "all" and not h.endswith(".all"))
)
# Instance ids are 10 base32 characters when generated; "all" is covered by its own test below.
instances = st.text(alphabet="0123456789abcdefghijklmnopqrstuv", min_size=1, max_size=10).filter(
    lambda i: i != "all"
)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
ports = st.integers(min_value=1, max_value=65535)
# A path segment with no "/" (any other character, including ".", "*", ">", "{", "}", spaces).
segments = st.text(st.characters(exclude_characters="/", exclude_categories=("Cs",)))

_SAFE_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-_%")


# -- hostnames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example", "example"),
        ("users.example", "users.example"),
        ("a-b_c.x1.example", "a-b_c.x1.example"),
        ("0.1.2", "0.1.2"),
        ("all.example", "all.example"),  # only "all" and "*.all" are reserved
        ("ball", "ball"),
        ("x.alls", "x.alls"),
        ("a" * 253, "a" * 253),  # the longest allowed
        (".".join(["abc"] * 63) + ".a", ".".join(["abc"] * 63) + ".a"),  # 253 chars, many labels
    ],
)
def test_valid_hostnames(host: str, expected: str) -> None:
    assert subj.validate_hostname(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("", id="empty"),
        pytest.param("a b", id="space"),
        pytest.param(" example", id="leading-space"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a/b", id="slash"),
        pytest.param("a:443", id="colon"),
        pytest.param("a..b", id="empty-label"),
        pytest.param(".a", id="leading-dot"),
        pytest.param("a.", id="trailing-dot"),
        pytest.param(".", id="dot"),
        pytest.param("a*", id="star"),
        pytest.param("*.example", id="wildcard-label"),
        pytest.param("a.>", id="gt"),
        pytest.param("~abc.example", id="instance-marker"),
        pytest.param("a|b", id="pipe"),
        pytest.param("|", id="pipe-label"),
        pytest.param("caf\u00e9.example", id="non-ascii"),
        pytest.param("all", id="reserved-all"),
        pytest.param("ALL", id="reserved-all-upper"),
        pytest.param("EXAMPLE.Com", id="upper-case"),
        pytest.param("Users.example", id="upper-case-label"),
        pytest.param("x.all", id="reserved-suffix"),
        pytest.param("users.example.ALL", id="reserved-suffix-upper"),
        pytest.param("a" * 254, id="too-long"),
        pytest.param(".".join(["abc"] * 64), id="too-long-labels"),
        pytest.param(None, id="none"),
        pytest.param(b"example", id="bytes"),
        pytest.param(42, id="int"),
    ],
)
def test_invalid_hostnames(host: Any) -> None:
    with pytest.raises(SubjectError):
        subj.validate_hostname(host)


def test_subject_error_is_a_value_error() -> None:
    assert issubclass(SubjectError, ValueError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: subj.validate_hostname("example\n"),
        lambda: subj.validate_plane("p0\n"),
        lambda: subj.validate_method("GET\n"),
        lambda: subj.direct_subscription("p0", "example", "abc\n"),
    ],
    ids=["hostname", "plane", "method", "instance"],
)
def test_trailing_newline_is_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(SubjectError):
        call()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aZ09-_.~*>| \t%", max_size=12))
def test_validated_hostnames_are_safe_labels(text: str) -> None:
    try:
        host = subj.validate_hostname(text)
    except SubjectError:
        return
    assert host == text
    assert host not in ("all",) and not host.endswith(".all")
    for label in host.split("."):
        assert label, host
        assert re.fullmatch(r"[a-z0-9_\-]+", label), host
        # The markers of non-host tokens can never be hostname labels.
        assert not label.startswith("~")
        assert label != "|"


# -- plane, method, port ----------------------------------------------------------------------


@pytest.mark.parametrize("plane", ["p0", "microbus", "ABC123", "x"])
def test_valid_planes(plane: str) -> None:
    assert subj.validate_plane(plane) == plane


@pytest.mark.parametrize("plane", ["", "a.b", "a b", "a-b", "a_b", "*", ">", "a~", None, 7])
def test_invalid_planes(plane: Any) -> None:
    with pytest.raises(SubjectError):
        subj.validate_plane(plane)


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", "GET"), ("get", "GET"), ("Post", "POST"), ("PATCH", "PATCH"), ("any", "ANY")],
)
def test_valid_methods(method: str, expected: str) -> None:
    assert subj.validate_method(method) == expected


@pytest.mark.parametrize("method", ["", "GET /x", "G3T", "*", "GE.T", "GET>", None, 1])
def test_invalid_methods(method: Any) -> None:
    with pytest.raises(SubjectError):
        subj.validate_method(method)


@pytest.mark.parametrize("port", [0, 1, 80, 443, 417, 888, 65535])
def test_valid_ports(port: int) -> None:
    assert subj.validate_port(port) == port


@pytest.mark.parametrize("port", [-1, 65536, True, False, "443", 443.0, None])
def test_invalid_ports(port: Any) -> None:
    with pytest.raises(SubjectError):
        subj.validate_port(port)


# -- kebab, reverse_host, queue ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("delete_user", "delete-user"),
        ("on_user_deleted", "on-user-deleted"),
        ("hello", "hello"),
        ("OnAllowRegister", "on-allow-register"),
        ("onAllowRegister", "on-allow-register"),
        ("_private_name", "private-name"),
        ("trailing_", "trailing"),
        ("snake_Case", "snake-case"),
        ("v2_api", "v2-api"),
    ],
)
def test_kebab(name: str, expected: str) -> None:
    assert subj.kebab(name) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.com", "com.example.www"),
        ("example", "example"),
        ("users.example", "example.users"),
        ("WWW.Example.COM", "com.example.www"),
    ],
)
def test_reverse_host(host: str, expected: str) -> None:
    assert subj.reverse_host(host) == expected


@given(hostnames)
def test_reverse_host_is_an_involution(host: str) -> None:
    assert subj.reverse_host(subj.reverse_host(host)) == host


def test_queue_is_the_lower_cased_host() -> None:
    assert subj.queue_for("Files.Example") == "files.example"


# -- escape_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "_"),
        ("/", "_"),
        ("PATH/to/file.html", "PATH.to.file_html"),
        ("/foo/{foo}/bar/{bar}", "foo.%007bfoo%007d.bar.%007bbar%007d"),
        ("/DIR/", "DIR._"),
        ("empty///", "empty._._._"),
        ("//a", "_.a"),
        ("/a.b.c", "a_b_c"),
        ("/CamelCase-09", "CamelCase-09"),  # safe characters keep their case
        ("/a_b", "a%005fb"),
        ("/!", "%0021"),
        ("/a b", "a%0020b"),
        ("/\t", "%0009"),
        ("/*", "%002a"),
        ("/>", "%003e"),
        ("/%", "%0025"),
        ("/~", "%007e"),
        ("/|", "%007c"),
        ("/caf\u00e9", "caf%00e9"),
        ("/{+}", "%007b%002b%007d"),
    ],
)
def test_escape_path_literal(path: str, expected: str) -> None:
    assert subj.escape_path(path) == expected
    assert subj.escape_path(path, subscription=False) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "_"),
        ("PATH/to/file.html", "PATH.to.file_html"),
        ("DIR/{+}", "DIR.>"),
        ("/foo/{foo}/bar/{bar}", "foo.*.bar.*"),
        ("/{id}", "*"),
        ("/files/{path+}", "files.>"),
        ("/{p+}/x", "*.x"),  # greedy only when last
        ("/a/{x}b", "a.%007bx%007db"),  # not a whole-segment template
        ("/a/x{y}", "a.x%007by%007d"),
        ("/DIR/", "DIR._"),
        ("/a_b/c.d", "a%005fb.c_d"),
    ],
)
def test_escape_path_subscription(path: str, expected: str) -> None:
    assert subj.escape_path(path, subscription=True) == expected


@pytest.mark.parametrize("path", [None, b"/x", 3])
def test_escape_path_rejects_non_strings(path: Any) -> None:
    with pytest.raises(SubjectError):
        subj.escape_path(path)


def test_escape_path_is_injective_beyond_the_bmp() -> None:
    assert subj.escape_path("/\U0001f600") != subj.escape_path("/\u1f600")


@settings(max_examples=200, deadline=None)
@given(st.text(), st.booleans())
def test_escaped_tokens_are_always_safe(path: str, subscription: bool) -> None:
    escaped = subj.escape_path(path, subscription=subscription)
    tokens = escaped.split(".")
    body = path.removeprefix("/")
    assert len(tokens) == (len(body.split("/")) if body else 1)
    for token in tokens:
        assert token, escaped
        if subscription and token in ("*", ">"):
            continue
        assert not any(c in token for c in ".*>"), token
        assert not any(c.isspace() for c in token), token
        assert set(token) <= _SAFE_TOKEN_CHARS, token


@settings(max_examples=100, deadline=None)
@given(st.lists(segments, max_size=5))
def test_literal_escape_has_no_wildcards(parts: list[str]) -> None:
    tokens = subj.escape_path("/" + "/".join(parts)).split(".")
    assert "*" not in tokens and ">" not in tokens


# -- request and subscription subjects --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("p0", 80, "EXAMPLE.com", "GET", "PATH/to/file.html"),
            "p0.80.c~example.com.example.|.GET.PATH.to.file_html",
        ),
        (
            ("p0", 443, "example.com", "get", "/foo/{foo}/bar/{bar}"),
            "p0.443.c~example.com.example.|.GET.foo.%007bfoo%007d.bar.%007bbar%007d",
        ),
        (
            ("p0", 123, "example.com", "PATCH", "/DIR/"),
            "p0.123.c~example.com.example.|.PATCH.DIR._",
        ),
        (
            ("p0", 80, "EXAMPLE.com", "GET", "empty///"),
            "p0.80.c~example.com.example.|.GET.empty._._._",
        ),
        (
            ("microbus", 417, "eventsource.example", "POST", "/on-allow-register"),
            "microbus.417.c~example.example.eventsource.|.POST.on-allow-register",
        ),
        (("p0", 443, "users.example", "POST", ""), "p0.443.c~example.example.users.|.POST._"),
    ],
)
def test_request_subject(args: tuple[str, int, str, str, str], expected: str) -> None:
    assert subj.request_subject(*args, source="c.example") == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("p0", 80, "EXAMPLE.com", "GET", "PATH/to/file.html"),
            "p0.80.*.com.example.|.GET.PATH.to.file_html",
        ),
        (("p0", 443, "www.example.com", "ANY", ""), "p0.443.*.com.example.www.|.*._"),
        (("p0", 443, "www.example.com", "any", "/x"), "p0.443.*.com.example.www.|.*.x"),
        (("p0", 123, "example.com", "POST", "DIR/{+}"), "p0.123.*.com.example.|.POST.DIR.>"),
        (
            ("p0", 0, "example.com", "GET", "/foo/{foo}/bar/{bar}"),
            "p0.*.*.com.example.|.GET.foo.*.bar.*",
        ),
        (("p0", 0, "example.com", "ANY", "/{p+}"), "p0.*.*.com.example.|.*.>"),
    ],
)
def test_subscription_subject(args: tuple[str, int, str, str, str], expected: str) -> None:
    assert subj.subscription_subject(*args) == expected


@settings(max_examples=100, deadline=None)
@given(hostnames, ports, methods, st.text())
def test_subscription_matches_its_own_requests(
    host: str, port: int, method: str, path: str
) -> None:
    request = subj.request_subject("p0", port, host, method, path, source="c.example")
    assert subj.matches(subj.subscription_subject("p0", port, host, method, path), request)
    # Port 0 and ANY are wildcards.
    assert subj.matches(subj.subscription_subject("p0", 0, host, method, path), request)
    assert subj.matches(subj.subscription_subject("p0", port, host, "ANY", path), request)
    # Another port, method or plane does not match.
    other_port = port + 1 if port < 65535 else 1
    assert not subj.matches(
        subj.subscription_subject("p0", other_port, host, method, path), request
    )
    other_method = "PUT" if method != "PUT" else "GET"
    assert not subj.matches(
        subj.subscription_subject("p0", port, host, other_method, path), request
    )
    assert not subj.matches(subj.subscription_subject("p1", port, host, method, path), request)


@settings(max_examples=100, deadline=None)
@given(hostnames, segments, st.text())
def test_templates_match_literal_requests(host: str, segment: str, rest: str) -> None:
    one = subj.subscription_subject("p0", 443, host, "GET", "/users/{id}")
    greedy = subj.subscription_subject("p0", 443, host, "GET", "/files/{path+}")
    assert subj.matches(
        one, subj.request_subject("p0", 443, host, "GET", f"/users/{segment}", source="c.example")
    )
    assert not subj.matches(
        one,
        subj.request_subject("p0", 443, host, "GET", f"/users/{segment}/more", source="c.example"),
    )
    assert subj.matches(
        greedy, subj.request_subject("p0", 443, host, "GET", f"/files/{rest}", source="c.example")
    )
    assert not subj.matches(
        greedy, subj.request_subject("p0", 443, host, "GET", "/files", source="c.example")
    )


@settings(max_examples=100, deadline=None)
@given(hostnames, hostnames, st.text(), st.text())
def test_hosts_do_not_cross_match(host: str, other: str, path: str, other_path: str) -> None:
    if host == other:
        return
    request = subj.request_subject("p0", 443, host, "POST", path, source="c.example")
    catch_all = subj.subscription_subject("p0", 0, other, "ANY", "/{p+}")
    assert not subj.matches(catch_all, request)
    assert not subj.matches(
        catch_all, subj.request_subject("p0", 443, host, "POST", other_path, source="c.example")
    )


# -- direct, all-replica and reply subjects ---------------------------------------------------


def test_direct_and_all_replica_subjects() -> None:
    plain = subj.request_subject("p0", 443, "users.example", "POST", "/x", source="c.example")
    direct = subj.request_subject(
        "p0", 443, "users.example", "POST", "/x", instance="abc123", source="c.example"
    )
    every = subj.request_subject(
        "p0", 443, "users.example", "POST", "/x", instance=subj.ALL_REPLICAS, source="c.example"
    )
    assert direct == "p0.443.c~example.example.users.~abc123.|.POST.x"
    assert every == "p0.443.c~example.example.users.~all.|.POST.x"
    assert subj.ALL_REPLICAS == "~all"

    mine = subj.direct_subscription("p0", "users.example", "abc123")
    theirs = subj.direct_subscription("p0", "users.example", "def456")
    replicas = subj.all_replicas_subscription("p0", "users.example")
    handler = subj.subscription_subject("p0", 443, "users.example", "POST", "/x")
    assert mine == "p0.*.*.example.users.~abc123.|.>"
    assert replicas == "p0.*.*.example.users.~all.|.>"

    reply = subj.reply_prefix("p0", "users.example", "abc123") + ".1f"
    table = {
        (mine, reply): False,
        (replicas, reply): False,
        (mine, direct): True,
        (mine, plain): False,
        (mine, every): False,
        (theirs, direct): False,
        (replicas, every): True,
        (replicas, plain): False,
        (replicas, direct): False,
        (handler, plain): True,
        (handler, direct): False,
        (handler, every): False,
    }
    for (pattern, subject), expected in table.items():
        assert subj.matches(pattern, subject) is expected, (pattern, subject)


@pytest.mark.parametrize("instance", ["", "ABC", "a.b", "~x", "a*", "a>", "a b", "abc-1"])
def test_invalid_instances(instance: str) -> None:
    with pytest.raises(SubjectError):
        subj.direct_subscription("p0", "users.example", instance)
    with pytest.raises(SubjectError):
        subj.reply_prefix("p0", "users.example", instance)
    with pytest.raises(SubjectError):
        subj.request_subject(
            "p0", 443, "users.example", "GET", "/", instance=instance, source="c.example"
        )


def test_instance_all_cannot_pose_as_every_replica() -> None:
    with pytest.raises(SubjectError):
        subj.request_subject(
            "p0", 443, "users.example", "POST", "/x", instance="all", source="c.example"
        )
    with pytest.raises(SubjectError):
        subj.direct_subscription("p0", "users.example", "all")


def test_reply_prefix() -> None:
    prefix = subj.reply_prefix("p0", "www.EXAMPLE.com", "abcd1234")
    assert prefix == "p0.r.~.com.example.www.~abcd1234"
    reply = f"{prefix}.1f"
    mine = subj.reply_subscription("p0", "www.example.com", "abcd1234")
    assert subj.matches(mine, reply)  # the server's no-responders status
    answer = subj.answer_subject(reply, "p0", "users.example")
    assert answer == "p0.r.users~example.com.example.www.~abcd1234.1f"
    assert subj.matches(mine, answer)
    assert subj.reply_sender(answer, "p0") == subj.host_token("users.example")
    assert subj.reply_sender(reply, "p0") == subj.REPLY_FROM_SERVER
    assert subj.reply_sender("p1.r.x.y", "p0") == ""
    assert subj.answer_subject("_INBOX.abc", "p0", "users.example") == "_INBOX.abc"
    assert not subj.matches(subj.reply_subscription("p0", "www.example.com", "other"), answer)
    # No handler subscription, however wide, receives replies.
    for subject in (reply, answer):
        assert not subj.matches(
            subj.subscription_subject("p0", 0, "www.example.com", "ANY", "/{p+}"), subject
        )
    assert subj.parse_route(reply) is None


@settings(max_examples=100, deadline=None)
@given(hostnames, hostnames, instances, st.text())
def test_instance_marker_never_collides_with_a_host(
    host: str, other: str, instance: str, path: str
) -> None:
    direct = subj.request_subject(
        "p0", 443, host, "POST", path, instance=instance, source="c.example"
    )
    every = subj.request_subject(
        "p0", 443, host, "POST", path, instance=subj.ALL_REPLICAS, source="c.example"
    )
    # A handler of any host (including a host one label longer) never sees directed requests.
    for candidate in (other, host, f"{instance}.{host}", f"all.{host}"):
        catch_all = subj.subscription_subject("p0", 0, candidate, "ANY", "/{p+}")
        assert not subj.matches(catch_all, direct)
        assert not subj.matches(catch_all, every)
    # A direct subscription never sees plain requests, nor requests to other hosts.
    mine = subj.direct_subscription("p0", host, instance)
    assert subj.matches(mine, direct)
    assert not subj.matches(mine, every)
    assert not subj.matches(
        mine, subj.request_subject("p0", 443, host, "POST", path, source="c.example")
    )
    assert not subj.matches(
        mine,
        subj.request_subject("p0", 443, f"{instance}.{host}", "POST", path, source="c.example"),
    )
    if other != host:
        assert not subj.matches(
            mine,
            subj.request_subject(
                "p0", 443, other, "POST", path, instance=instance, source="c.example"
            ),
        )


@given(hostnames)
def test_no_host_receives_announcements(host: str) -> None:
    announce = subj.announce_subject("p0")
    assert announce == "p0.888.all.|.ANNOUNCE._"
    assert not subj.matches(subj.subscription_subject("p0", 0, host, "ANY", "/{p+}"), announce)


# -- parse_route ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("p0.443.c~x.com.example.|.POST.a.b", (443, "POST.a.b")),
        (
            "p0.417.users~example.example.users.|.POST.on-user-deleted",
            (417, "POST.on-user-deleted"),
        ),
        ("p0.443.c.com.example.~abc.|.GET._", (443, "GET._")),
        ("p0.443.c.com.example.~all.|.GET._", (443, "GET._")),
        ("p0.888.all.|.ANNOUNCE._", (888, "ANNOUNCE._")),
        ("p0.r.com.example.~abc.1f", None),
        ("p0.r.users~example.com.example.~abc.1f", None),
        ("p0.*.com.example.|.GET.x", None),
        ("p0.443.|.GET.x", None),
        ("p0.443.com.example.GET.x", None),
        ("p0.443", None),
        ("", None),
    ],
)
def test_parse_route(subject: str, expected: tuple[int, str] | None) -> None:
    assert subj.parse_route(subject) == expected


def test_parse_route_non_ascii_port_is_not_a_route() -> None:
    assert subj.parse_route("p0.\u00b2.com.example.|.GET.x") is None


@given(hostnames, ports, methods, st.text(), st.one_of(st.none(), instances))
def test_parse_route_inverts_request_subject(
    host: str, port: int, method: str, path: str, instance: str | None
) -> None:
    subject = subj.request_subject(
        "p0", port, host, method, path, instance=instance, source="c.example"
    )
    assert subj.parse_route(subject) == (port, f"{method}.{subj.escape_path(path)}")


# -- matches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "a.b", False),
        ("a.b", "a.b.c", False),
        ("A.b", "a.b", False),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.b.c", False),
        ("a.*.c", "a.c", False),
        ("a.*", "a", False),
        ("*", "a", True),
        ("*", "a.b", False),
        ("*.*", "a.b", True),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.>", "b.c", False),
        (">", "a", True),
        (">", "a.b.c", True),
        ("*.>", "a", False),
        ("*.>", "a.b", True),
        ("a.>.c", "a.b.c", False),  # '>' is only a wildcard as the last token
        ("a*", "ab", False),  # partial-token wildcards are literals in NATS
        ("a*", "a*", True),
        ("a>", "ab", False),
    ],
)
def test_matches(pattern: str, subject: str, expected: bool) -> None:
    assert subj.matches(pattern, subject) is expected


def _reference_match(pattern: str, subject: str) -> bool:
    """Translate a NATS pattern to a regular expression (independent of the implementation)."""
    tokens = pattern.split(".")
    if ">" in tokens[:-1]:
        return False
    parts = []
    for tok in tokens:
        if tok == "*":
            parts.append(r"[^.]+")
        elif tok == ">":
            parts.append(r"[^.]+(?:\.[^.]+)*")
        else:
            parts.append(re.escape(tok))
    return re.fullmatch(r"\.".join(parts), subject) is not None


subject_tokens = st.lists(st.sampled_from(["a", "b", "cc"]), min_size=1, max_size=5)


@st.composite
def pattern_for(draw: st.DrawFn, subject: list[str]) -> str:
    """Mostly patterns derived from the subject (so that many match), sometimes random."""
    if draw(st.booleans()):
        toks = [draw(st.sampled_from([t, "*", "a"])) for t in subject]
        cut = draw(st.integers(min_value=0, max_value=len(toks)))
        toks = [*toks[:cut], ">"] if draw(st.booleans()) else toks
        if draw(st.booleans()) and toks:
            toks = toks[: draw(st.integers(min_value=1, max_value=len(toks)))]
        return ".".join(toks) or ">"
    return ".".join(draw(st.lists(st.sampled_from(["a", "b", "*", ">"]), min_size=1, max_size=5)))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_matches_agrees_with_reference(data: st.DataObject) -> None:
    subject = data.draw(subject_tokens)
    pattern = data.draw(pattern_for(subject))
    text = ".".join(subject)
    assert subj.matches(pattern, text) is _reference_match(pattern, text), (pattern, text)


@settings(max_examples=200, deadline=None)
@given(hostnames, hostnames)
def test_host_tokens_are_one_token_and_never_collide(a: str, b: str) -> None:
    ta, tb = subj.host_token(a), subj.host_token(b)
    assert "." not in ta and ta != subj.REPLY_FROM_SERVER
    assert (ta == tb) == (a == b)


# -- the source token ---------------------------------------------------------------------------


def test_the_source_is_one_token_the_server_can_check() -> None:
    s = subj.request_subject("p0", 443, "users.example", "POST", "/x", source="billing.example")
    assert s == "p0.443.billing~example.example.users.|.POST.x"
    assert subj.request_source(s) == "billing.example"
    assert subj.matches("p0.*.billing~example.>", s)  # what the generated ACL grants
    assert not subj.matches("p0.*.billing.>", s)  # a look-alike never matches
    assert subj.request_source("p0.443") == ""


def test_a_request_is_its_senders_own() -> None:
    s = subj.request_subject("p0", 443, "users.example", "POST", "/x", source="b.example")
    reply = subj.reply_prefix("p0", "b.example", "i1") + ".7"
    assert subj.sent_by(s, reply, "p0", "b.example", "i1")
    assert subj.sent_by(s, None, "p0", "b.example", "i1")  # fire-and-forget
    assert subj.sent_by(s, "_INBOX.abc", "p0", "b.example", "i1")  # a plain NATS client
    assert not subj.sent_by(s, reply, "p0", "c.example", "i1")  # claims another caller
    other_inbox = subj.reply_prefix("p0", "victim.example", "v1") + ".7"
    assert not subj.sent_by(s, other_inbox, "p0", "b.example", "i1")  # answers into another's
    assert not subj.sent_by(s, reply, "p0", "b.example", "i2")  # another instance's inbox
