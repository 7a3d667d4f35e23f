"""Docker's ``--format`` templates against the outputs Go's text/template gives.

Expected strings follow Go's documented behaviour (text/template, fmt, encoding/json) and the
Docker CLI's wrappers (templates/templates.go, cli/command/formatter/formatter.go).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath

import pytest

from pyker.cli.gotemplate import (LabelledRow, Template, TemplateError, compile,
                                  format_rows, render)
from pyker.errors import UsageError

INSPECT = {
    "ID": "0123456789abcdef",
    "State": {"Status": "running", "OOMKilled": False, "Pid": 42, "Health": None},
    "Config": {"Env": ["PATH=/bin", "A=1"], "Labels": {"b": "2", "a": "1"}},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
}


@dataclass(frozen=True)
class Port:
    Private: int
    Type: str


@dataclass(frozen=True)
class Container:
    ID: str
    Names: list[str]
    Ports: list[Port]

    def Label(self, key: str) -> str:  # noqa: N802 - Docker's template method name
        return {"com.example": "yes"}.get(key, "")


def run(template: str, data: object = None) -> str:
    return render(template, data)


def error(template: str, data: object = None) -> str:
    with pytest.raises(TemplateError) as info:
        render(template, data)
    return str(info.value)


@pytest.mark.parametrize(("template", "want"), [
    ("{{.ID}}", "0123456789abcdef"),
    ("{{.State.OOMKilled}}", "false"),
    ("{{.State.Pid}}", "42"),
    ("{{.Config.Env}}", "[PATH=/bin A=1]"),
    ("{{.Config.Labels}}", "map[a:1 b:2]"),
    ("{{.NetworkSettings.Networks.bridge.IPAddress}}", "172.17.0.2"),
    ("{{.Nope}}", "<no value>"),
    ("{{.Nope.Deeper.Still}}", "<no value>"),
    ("{{.State.Health}}", "<no value>"),  # nil in a map: Go unwraps it to no value
    ("{{print .State.Health}}", "<nil>"),
    ("{{.}}", "map[Config:map[Env:[PATH=/bin A=1] Labels:map[a:1 b:2]] ID:0123456789abcdef "
              "NetworkSettings:map[Networks:map[bridge:map[IPAddress:172.17.0.2]]] "
              "State:map[Health:<nil> OOMKilled:false Pid:42 Status:running]]"),
])
def test_fields_of_maps(template: str, want: str) -> None:
    assert run(template, INSPECT) == want


def test_fields_and_methods_of_objects() -> None:
    c = Container("abc", ["web"], [Port(80, "tcp")])
    assert run('{{.ID}} {{.Names}} {{.Ports}} {{.Label "com.example"}}', c) == \
        "abc [web] [{80 tcp}] yes"
    assert run('{{"com.example" | .Label}}', c) == "yes"  # the piped value is the last argument
    assert run('{{printf "%+v" (index .Ports 0)}}', c) == "{Private:80 Type:tcp}"


@pytest.mark.parametrize(("template", "data", "message"), [
    ("{{.Foo}}", Container("a", [], []),
     'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type Container'),
    ("{{.State.Status.Foo}}", INSPECT,
     'template: :1:8: executing "" at <.State.Status.Foo>: can\'t evaluate field Foo in type '
     "string"),
    ("{{.State.Health.Status}}", INSPECT,
     'template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating '
     "interface {}.Status"),
    ("x\n  {{.Foo}}", [1], 'template: :2:4: executing "" at <.Foo>: can\'t evaluate field Foo '
                           "in type []interface {}"),
    ("{{.ID 1}}", Container("a", [], []),
     'template: :1:2: executing "" at <.ID>: ID has arguments but cannot be invoked as function'),
    ("{{.Label}}", Container("a", [], []),
     'template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0'),
    ('{{.ID "x"}}', INSPECT,
     'template: :1:2: executing "" at <.ID>: ID is not a method but has arguments'),
])
def test_execution_errors_name_template_position_and_node(template: str, data: object,
                                                          message: str) -> None:
    assert error(template, data) == f"template parsing error: {message}"


def test_template_error_is_a_usage_error_with_attributes() -> None:
    with pytest.raises(UsageError) as info:
        render("a\n{{foo}}", None)
    err = info.value
    assert isinstance(err, TemplateError)
    assert (err.template, err.line, err.reason) == ("a\n{{foo}}", 2, 'function "foo" not defined')
    assert err.exit_code == 125


@pytest.mark.parametrize(("template", "message"), [
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{.ID", "template: :1: unclosed action"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if .X}}", "template: :1: unexpected EOF"),
    ("{{if}}{{end}}", "template: :1: missing value for if"),
    ("{{}}", "template: :1: missing value for command"),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ('{{"abc}}', "template: :1: unterminated quoted string"),
    ("{{3x}}", 'template: :1: bad number syntax: "3x"'),
    ("{{.X | 3}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{(.X}}", "template: :1: unclosed left paren"),
    ("{{.X)}}", "template: :1: unexpected right paren"),
    ("{{break}}", "template: :1: {{break}} outside {{range}}"),
    ("{{.X=1}}", "template: :1: bad character U+003D '='"),
    ("{{/* open", "template: :1: unclosed comment"),
    ("{{range $a, $b, $c := .}}{{end}}", "template: :1: too many declarations in range"),
    ('{{"a".B}}', 'template: :1: unexpected . after term "\\"a\\""'),
    ("{{if .X}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
    ("a\nb\n{{end}}", "template: :3: unexpected {{end}}"),
])
def test_parse_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile(template)
    assert str(info.value) == f"template parsing error: {message}"


@pytest.mark.parametrize(("template", "data", "want"), [
    ("{{$v := .a}}{{$v}}-{{$v = 2}}{{$v}}", {"a": 1}, "1-2"),
    ("{{$.a}}{{with .b}}{{$.a}}{{.}}{{end}}", {"a": 1, "b": 2}, "112"),
    ("{{range .}}{{.}},{{end}}", ["a", "b"], "a,b,"),
    ("{{range $i, $e := .}}{{$i}}={{$e}};{{end}}", ["a", "b"], "0=a;1=b;"),
    ("{{range $e := .}}<{{$e}}>{{end}}", ["a"], "<a>"),
    ("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", {"b": 1, "a": 2, "c": 0}, "a=2;b=1;c=0;"),
    ("{{range .}}{{.}}{{end}}", {"b": 1, "a": 2}, "21"),
    ("{{range .}}x{{else}}empty{{end}}", [], "empty"),
    ("{{range .Missing}}x{{else}}none{{end}}", {}, "none"),
    ("{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}",
     [1, 2, 3, 4, 5], "13"),
    ("{{range 3}}{{.}}{{end}}", None, "012"),
    ("{{if .a}}A{{else if .b}}B{{else}}C{{end}}", {"a": 0, "b": "x"}, "B"),
    ("{{if .a}}A{{else if .b}}B{{else}}C{{end}}", {"a": [], "b": {}}, "C"),
    ("{{if and .a .b}}both{{end}}{{if or .a .b}}one{{end}}{{if not .a}}!a{{end}}",
     {"a": 0, "b": 1}, "one!a"),
    ("{{with .a}}[{{.}}]{{else}}none{{end}}", {"a": "x"}, "[x]"),
    ("{{with .a}}[{{.}}]{{else}}none{{end}}", {"a": ""}, "none"),
    ("{{with $x := .a}}{{$x}}{{end}}", {"a": 5}, "5"),
    ("{{define \"row\"}}<{{.}}>{{end}}{{template \"row\" .a}}{{template \"row\"}}", {"a": 1},
     "<1><<no value>>"),
    ("{{block \"b\" .}}[{{.}}]{{end}}", 7, "[7]"),
    ("{{range 1000000000000}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}", None, "012"),
    ("{{(.missing).X}}|{{(index . \"missing\")}}", {}, "<no value>|<no value>"),
])
def test_control_structures(template: str, data: object, want: str) -> None:
    assert run(template, data) == want


@pytest.mark.parametrize(("template", "want"), [
    ("a  {{- 1 -}}  b", "a1b"),
    ("a \n {{- 1}} \n b", "a1 \n b"),
    ("a {{1 -}} \t\n b", "a 1b"),
    ("{{-3}}", "-3"),  # no space after the dash: a negative number, not a trim marker
    ("a {{- /* a comment */ -}} b", "ab"),
    ("a{{/* c */}}b", "ab"),
    ("{{`raw\\n`}}|{{\"tab\\there\"}}|{{'a'}}|{{\"\\u00e9\\x41\"}}", "raw\\n|tab\there|97|éA"),
    ("{{1.5}} {{1e6}} {{100000.0}} {{0.0001}} {{0.00001}} {{0x1F}} {{0o17}} {{017}} {{1_000}}",
     "1.5 1e+06 100000 0.0001 1e-05 31 15 15 1000"),
    ("{{true}} {{false}} {{\"s\"}}", "true false s"),
    ("{{(print 1 2)}} {{(index .l 1).x}}", "1 2 y"),
    ('{{print "a" 1 2 "b" 3.5 true}}', "a1 2b3.5 true"),
    ('{{println "a" 1}}', "a 1\n"),
])
def test_text_literals_and_trimming(template: str, want: str) -> None:
    assert run(template, {"l": [{}, {"x": "y"}]}) == want


@pytest.mark.parametrize(("value", "want"), [
    ("text", "text"), (True, "true"), (0, "0"), (-12, "-12"), (2.5, "2.5"), (1.0, "1"),
    (1e21, "1e+21"), (123456789.0, "1.23456789e+08"), (-0.0, "-0"), (float("inf"), "+Inf"),
    (float("nan"), "NaN"), ([], "[]"), (["a", "b c", 1], "[a b c 1]"),
    ([None, True], "[<nil> true]"),
    ({}, "map[]"), ({"b": [1, 2], "a": {"y": None}}, "map[a:map[y:<nil>] b:[1 2]]"),
    ({2: "x", 10: "y"}, "map[2:x 10:y]"), (Port(22, "udp"), "{22 udp}"),
])
def test_go_printing_of_values(value: object, want: str) -> None:
    assert run("{{.v}}", {"v": value}) == want


@pytest.mark.parametrize(("template", "want"), [
    ('{{printf "%s|%d|%v|%t" "a" 42 1.5 true}}', "a|42|1.5|true"),
    ('{{printf "%q %q %x %X" "a\\"b\\n" 65 255 "hi"}}', "\"a\\\"b\\n\" 'A' ff 6869"),
    ('{{printf "[%-10s][%10s][%5d][%-5d][%05d][%+d][%x]" "ab" "ab" 42 42 -42 7 -255}}',
     "[ab        ][        ab][   42][42   ][-0042][+7][-ff]"),
    ('{{printf "%.2f %8.3f %e %g %g %.3g" 3.14159 2.5 1234.5 0.000012 100000.0 1234.5}}',
     "3.14    2.500 1.234500e+03 1.2e-05 100000 1.23e+03"),
    ('{{printf "%.3s|%c|%U|%o|%#o|%#x|%b|%T|%T" "abcdef" 97 65 8 8 255 5 "s" 1.0}}',
     "abc|a|U+0041|10|010|0xff|101|string|float64"),
    ('{{printf "%v %d %s" .l .l .l}}', "[1 2] [1 2] [%!s(int=1) %!s(int=2)]"),
    ('{{printf "%d %s %t" "x" 1 1}}', "%!d(string=x) %!s(int=1) %!t(int=1)"),
    ('{{printf "%d %d" 1}}', "1 %!d(MISSING)"),
    ('{{printf "%d" 1 "x" 2}}', "1%!(EXTRA string=x, int=2)"),
    ('{{printf "100%%" }}', "100%"),
    ('{{printf "%v|%s" .n .n}}', "<nil>|%!s(<nil>)"),
    ('{{printf "%" }}', "%!(NOVERB)"),
    ('{{printf "%6.2f|%-8v|%+.1e" -1.5 .n 12345.0}}', " -1.50|<nil>   |+1.2e+04"),
])
def test_printf(template: str, want: str) -> None:
    assert run(template, {"l": [1, 2], "n": None}) == want


@pytest.mark.parametrize(("value", "want"), [
    # Docker's json function disables HTML escaping (templates.go: SetEscapeHTML(false)).
    ({"b": 1, "a": "<x>&"}, '{"a":"<x>&","b":1}'),
    ([1, 1.0, 1.5, 1e21, 1e-7, 0.000001, -0.0], "[1,1,1.5,1e+21,1e-7,0.000001,-0]"),
    ("é\u2028\x01\x7f\t\"\\", '"é\\u2028\\u0001\x7f\\t\\"\\\\"'),
    ("\b\f", '"\\b\\f"'),
    ({"x": None, "y": [], "z": {}}, '{"x":null,"y":[],"z":{}}'),
    ({10: "a", 9: "b"}, '{"10":"a","9":"b"}'),  # Go sorts map keys as text
    (Port(80, "tcp"), '{"Private":80,"Type":"tcp"}'),  # a struct keeps its field order
    (b"hi", '"aGk="'),
    (PurePosixPath("/var/lib/pyker"), '"/var/lib/pyker"'),  # a Stringer encodes as its text
    (float("nan"), ""),  # the encoder fails and Docker prints its empty buffer
])
def test_json(value: object, want: str) -> None:
    assert run("{{json .v}}", {"v": value}) == want
    assert run("{{.v | json}}", {"v": value}) == want


@pytest.mark.parametrize(("template", "want"), [
    ('{{join .args " "}}', "sh -c true"),
    ('{{join .none ","}}', ""),
    ('{{split "a,b,,c" ","}} {{len (split "abc" "")}}', "[a b  c] 3"),
    ('{{lower "ÀBC"}} {{upper "straße"}} {{title "hello wORLD-foo_bar x"}}',
     "àbc STRAßE Hello WORLD-Foo_bar X"),
    ("{{truncate .id 12}}|{{truncate .id 100}}|{{truncate \"\" 3}}",
     "0123456789ab|0123456789abcdef|"),
    ('[{{pad "x" 2 3}}][{{pad "" 2 3}}]', "[  x   ][]"),
    ("{{len .args}} {{len .m}} {{len \"héllo\"}}", "3 1 6"),  # len of a string counts bytes
    ('{{index .args 1}} {{index .m "k"}} {{index .m "nope"}} {{index "abc" 1}} {{index .nest 0 1}}',
     "-c v <no value> 98 2"),
    ("{{slice .args 1}} {{slice .args 1 2}} {{slice \"hello\" 1 3}} {{slice .args}}",
     "[-c true] [-c] el [sh -c true]"),
    ("{{eq 1 1}} {{eq .id \"x\" \"0123456789abcdef\"}} {{ne 1 2}} {{eq .n 1}} {{eq .n .none}}",
     "true true true false false"),  # nil equals no value of another kind
    ('{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}} {{lt "a" "b"}}',
     "true true true false true"),
    ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" 3}} {{or 0 \"\"}} {{not 0}}", "0 2 3  true"),
    ("{{and 0 .n.deref}}", "0"),  # and stops before the argument that would fail
    ("{{or 1 .n.deref}}", "1"),
])
def test_functions(template: str, want: str) -> None:
    data = {"args": ["sh", "-c", "true"], "none": [], "m": {"k": "v"}, "id": "0123456789abcdef",
            "n": None, "nest": [[1, 2]]}
    assert run(template, data) == want


@pytest.mark.parametrize(("template", "message"), [
    ('{{eq 1 "1"}}', 'at <eq 1 "1">: error calling eq: incompatible types for comparison'),
    ("{{lt 1 1.5}}", "at <lt 1 1.5>: error calling lt: incompatible types for comparison"),
    ("{{lt true false}}", "at <lt true false>: error calling lt: invalid type for comparison"),
    ("{{index .l 5}}", "at <index .l 5>: error calling index: index out of range: 5"),
    ("{{index .l \"a\"}}",
     'at <index .l "a">: error calling index: cannot index slice/array with type string'),
    ("{{index .n 0}}", "at <index .n 0>: error calling index: index of untyped nil"),
    ("{{slice .l 2 1}}", "at <slice .l 2 1>: error calling slice: invalid slice index: 2 > 1"),
    ("{{len 3}}", "at <len 3>: error calling len: len of type int"),
    ("{{upper}}", "at <upper>: wrong number of args for upper: want 1 got 0"),
    ("{{index}}", "at <index>: wrong number of args for index: want at least 1 got 0"),
    ("{{upper 1}}", "at <1>: expected string; found 1"),
    ("{{upper .l}}", "at <.l>: wrong type for value; expected string; got []interface {}"),
    ('{{truncate "abc" "x"}}', 'at <"x">: expected integer; found "x"'),
    ("{{truncate \"abc\" 1.5}}", "at <1.5>: expected integer; found 1.5"),
    ('{{join .l ","}}', "at <.l>: wrong type for value; expected []string; got []interface {}"),
    ("{{upper .n}}", "at <.n>: wrong type for value; expected string; got interface {}"),
    ("{{upper .gone}}", "at <.gone>: invalid value; expected string"),
    ('{{"a" "b"}}', 'at <"a">: can\'t give argument to non-function "a"'),
    ("{{nil}}", "at <nil>: nil is not a command"),
    ("{{range .s}}{{end}}", "at <{{range .s}}{{end}}>: range can't iterate over abc"),
    ('{{template "nope"}}', 'at <{{template "nope"}}>: no such template "nope"'),
])
def test_function_errors(template: str, message: str) -> None:
    got = error(template, {"l": [1, 2], "n": None, "s": "abc"})
    assert got.startswith("template parsing error: template: :1:")
    assert got.endswith(message)


def test_table_header_functions_keep_the_title() -> None:
    # Docker renders the header with HeaderFunctions: json, upper, truncate... return the
    # title unchanged, while pad still pads it. Widths: 15 (12+3), then minwidth 10 twice.
    fmt = r"table {{truncate .ID 3}}\t{{json .Names}}\t{{upper .Name}}\t{{pad .Size 1 0}}"
    out = format_rows(fmt, [{"ID": "0123456789ab", "Names": ["a"], "Name": "x", "Size": "1MB"}],
                      {"ID": "CONTAINER ID", "Names": "NAMES", "Size": "SIZE"})
    assert out == ("CONTAINER ID" + " " * 3 + "NAMES" + " " * 5 + "NAME" + " " * 6 + " SIZE\n"
                   + "012" + " " * 12 + '["a"]' + " " * 5 + "X" + " " * 9 + " 1MB\n")


def test_format_rows_docker_images_table() -> None:
    rows = [{"Repository": "busybox", "Tag": "latest", "ID": "a416a98b71e2",
             "CreatedSince": "2 weeks ago", "Size": "4.26MB"},
            {"Repository": "quay.io/podman/hello", "Tag": "v1", "ID": "0123456789ab",
             "CreatedSince": "3 days ago", "Size": "1MB"}]
    headers = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
               "CreatedSince": "CREATED", "Size": "SIZE"}
    fmt = r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    assert format_rows(fmt, rows, headers) == (
        "REPOSITORY             TAG       IMAGE ID       CREATED       SIZE\n"
        "busybox                latest    a416a98b71e2   2 weeks ago   4.26MB\n"
        "quay.io/podman/hello   v1        0123456789ab   3 days ago    1MB\n")


def test_format_rows_unknown_field_header_is_its_name_upper_cased() -> None:
    assert format_rows(r"table {{.ID}}\t{{.Whatever}}", [{"ID": "x"}], {"ID": "IMAGE ID"}) == \
        "IMAGE ID   WHATEVER\nx          <no value>\n"


def test_format_rows_table_without_rows_prints_the_header() -> None:
    assert format_rows("table {{.ID}}", [], {"ID": "IMAGE ID"}) == "IMAGE ID\n"


def test_format_rows_header_error_keeps_partial_output() -> None:
    # Docker ignores the header's execution error; ranging over a title fails after "IMAGE ID\t".
    out = format_rows(r"table {{.ID}}\t{{range .Names}}{{.}}{{end}}",
                      [{"ID": "0123456789ab", "Names": ["a", "b"]}], {"ID": "IMAGE ID"})
    assert out == "IMAGE ID       \n0123456789ab   ab\n"


def test_format_rows_plain_template_and_shell_escapes() -> None:
    rows = [{"ID": "a", "Names": "x"}, {"ID": "b", "Names": "y"}]
    assert format_rows(r"{{.ID}}\t{{.Names}}", rows) == "a\tx\nb\ty\n"
    assert format_rows(r"{{.ID}}\n--", rows) == "a\n--\nb\n--\n"
    assert format_rows("  {{.ID}}  ", rows) == "a\nb\n"  # Docker trims the format's spaces


def test_format_rows_json_shortcut() -> None:
    rows = [{"b": 1, "a": "<x>"}, {"c": [True]}]
    assert format_rows("json", rows) == '{"a":"<x>","b":1}\n{"c":[true]}\n'
    assert format_rows("{{json .}}", rows) == format_rows("json", rows)


def test_format_rows_row_error_raises() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field Foo in type Port"):
        format_rows("table {{.Foo}}", [Port(1, "tcp")], {})


def test_compile_is_cached_and_template_immutable() -> None:
    template = compile("{{.A}}")
    assert compile("{{.A}}") is template
    assert isinstance(template, Template)
    assert template.render({"A": 1}) == "1" and template.render({"A": 2}) == "2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.source = "x"  # type: ignore[misc]


def test_recursive_template_is_stopped() -> None:
    message = error('{{define "loop"}}{{template "loop" .}}{{end}}{{template "loop" .}}')
    assert message.endswith("exceeded maximum template depth (100)")


def test_deep_nesting_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="nests too deeply"):
        compile("{{" + "(" * 2000 + "1" + ")" * 2000 + "}}")


def test_variables_are_scoped_to_their_control_structure() -> None:
    with pytest.raises(TemplateError, match='undefined variable "\\$x"'):
        compile("{{range .}}{{$x := .}}{{end}}{{$x}}")
    # Assignment (Go 1.11) changes the outer variable from inside the range.
    assert run("{{$x := 0}}{{range .}}{{$x = .}}{{end}}{{$x}}", [5, 6]) == "6"


def test_label_method_of_a_row():
    """Docker's ps/images formatter: {{.Label "key"}} next to the row's fields."""
    row = LabelledRow({"Names": "web", "Label": "a key wins"}, {"team": "a"})
    assert render('{{.Names}} {{.Label "team"}}|', LabelledRow({"Names": "web"},
                                                              {"team": "a"})) == "web a|"
    assert render('{{.Label "nope"}}|', LabelledRow({}, {"team": "a"})) == "|"
    assert render("{{.Label}}", row) == "a key wins"
    with pytest.raises(TemplateError):  # a plain map has no methods, and dict's are not Go's
        render('{{.Label "team"}}', {"Names": "web"})
    assert render("{{.keys}}", LabelledRow({}, {})) == "<no value>"
