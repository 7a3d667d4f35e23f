"""The Dockerfile parser gives Docker's reading of each instruction, and Docker's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyker.build import instructions as ins
from pyker.build.parser import parse, parse_instruction
from pyker.errors import BuildError, DockerfileSyntaxError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles"


def one(text: str) -> ins.Instruction:
    """The single instruction after ``FROM scratch``."""
    (inst,) = parse(f"FROM scratch\n{text}\n").stages[0].instructions
    return inst


def test_from_stage_and_global_args():
    df = parse("ARG V=1 W\nFROM --platform=linux/amd64 busybox:$V AS Base\nFROM base\n")
    assert df.global_args == (ins.Arg(line=1, original="ARG V=1 W", args=(
        ins.ArgSpec(name="V", default="1"), ins.ArgSpec(name="W"))),)
    first, second = df.stages
    assert (first.name, first.base, first.platform, first.index, first.line) == (
        "base", "busybox:$V", "linux/amd64", 0, 2)
    assert (second.base, second.base_stage) == ("base", 0)
    assert df.warnings and "--platform=linux/amd64 is ignored" in df.warnings[0]


@pytest.mark.parametrize("text, command", [
    ('RUN ["echo", "a b"]', ("echo", "a b")),
    ("RUN echo $HOME && ls", "echo $HOME && ls"),
    ("RUN [not json", "[not json"),
    ("RUN ['single', 'quotes']", "['single', 'quotes']"),
    ("RUN []", ()),
    ("run  echo  lower", "echo  lower"),
])
def test_run_forms(text, command):
    assert one(text).command == command


def test_run_flags_kept():
    assert one("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t "
               "--network=none make") == ins.Run(
        line=2, original="RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t "
        "--network=none make", command="make",
        mounts=("type=cache,target=/c", "type=tmpfs,target=/t"), network="none")


def test_cmd_entrypoint_shell():
    assert one('CMD ["python", "app.py"]') == ins.Cmd(
        line=2, original='CMD ["python", "app.py"]', command=("python", "app.py"))
    assert one('CMD echo "This is a test." | wc -').command == 'echo "This is a test." | wc -'
    assert one("ENTRYPOINT top -b").command == "top -b"
    assert one('SHELL ["/bin/bash", "-o", "pipefail", "-c"]') == ins.Shell(
        line=2, original='SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
        shell=("/bin/bash", "-o", "pipefail", "-c"))


@pytest.mark.parametrize("text, pairs", [
    ('LABEL a=b c="d e"', (("a", "b"), ("c", '"d e"'))),
    ("LABEL version 1.0 beta", (("version", "1.0 beta"),)),
    ('LABEL "com.example.vendor"="ACME Inc"', (('"com.example.vendor"', '"ACME Inc"'),)),
    ("LABEL a=b \\\n      c=d", (("a", "b"), ("c", "d"))),
])
def test_label(text, pairs):
    assert one(text).pairs == pairs


@pytest.mark.parametrize("text, pairs", [
    ('ENV k=v k2="v 2"', (("k", "v"), ("k2", '"v 2"'))),
    ("ENV PG_MAJOR 9.3", (("PG_MAJOR", "9.3"),)),
    ("ENV k v w", (("k", "v w"),)),
    ("ENV a=", (("a", ""),)),
    ("ENV a=x\\ y", (("a", "x\\ y"),)),
    ("ENV PATH /usr/local/postgres-$PG_MAJOR/bin:$PATH",
     (("PATH", "/usr/local/postgres-$PG_MAJOR/bin:$PATH"),)),
])
def test_env(text, pairs):
    assert one(text).pairs == pairs


def test_expose_volume_workdir_user_stopsignal_maintainer():
    assert one("EXPOSE 80 53/udp").ports == ("80", "53/udp")
    assert one('VOLUME [ "/var/www/html" ]').paths == ("/var/www/html",)
    assert one("VOLUME /a /b").paths == ("/a", "/b")
    assert one("WORKDIR /go/src/x/").path == "/go/src/x/"
    assert one("USER nobody:nogroup").user == "nobody:nogroup"
    assert one("STOPSIGNAL SIGINT").signal == "SIGINT"
    assert one("MAINTAINER James Turnbull <james@example.com>") == ins.Maintainer(
        line=2, original="MAINTAINER James Turnbull <james@example.com>",
        name="James Turnbull <james@example.com>")


def test_copy_add_forms():
    assert one("COPY --chown=1:2 --chmod=644 --link a b* /dest/") == ins.Copy(
        line=2, original="COPY --chown=1:2 --chmod=644 --link a b* /dest/",
        sources=("a", "b*"), dest="/dest/", chown="1:2", chmod="644", link=True)
    assert one('COPY ["a b", "/x y/"]').sources == ("a b",)
    assert one("ADD http://example.com/big.tar.xz /usr/src/things/").sources == (
        "http://example.com/big.tar.xz",)


def test_copy_from_resolves_stage():
    df = parse("FROM a AS one\nFROM b\nCOPY --from=one /x /y\nCOPY --from=0 /x /y\n"
               "COPY --from=busybox:latest /bin/sh /\nCOPY --from=busybox /bin/sh /\n")
    a, b, c, d = df.stages[1].instructions
    # A word that names no stage is an image, tagged or not (Docker's rule).
    assert (a.from_stage, b.from_stage, c.from_stage, d.from_stage) == (0, 0, None, None)


def test_arg_forms():
    assert one('ARG a b=1 c="x y" d=').args == (
        ins.ArgSpec(name="a"), ins.ArgSpec(name="b", default="1"),
        ins.ArgSpec(name="c", default='"x y"'), ins.ArgSpec(name="d", default=""))


def test_heredocs():
    df = parse("FROM scratch\nRUN <<EOF\necho $HOME\nEOF\nRUN <<-'EOT' sh\n\t\techo $x\n\tEOT\n"
               "COPY <<EOF /etc/motd\nhello\nEOF\nRUN echo done\n")
    run1, run2, copy, last = df.stages[0].instructions
    assert run1.heredocs == (ins.Heredoc(name="EOF", content="echo $HOME\n"),)
    assert run1.command == "<<EOF"
    assert run2.heredocs == (ins.Heredoc(name="EOT", content="echo $x\n", expand=False,
                                         chomp=True),)
    assert copy == ins.Copy(line=8, original="COPY <<EOF /etc/motd", sources=(),
                            dest="/etc/motd", heredocs=(ins.Heredoc(name="EOF",
                                                                    content="hello\n"),))
    assert last.line == 11


def test_heredoc_not_in_exec_form():
    assert one('RUN ["cat", "<<EOF"]').heredocs == ()


def test_continuations_comments_and_escape_directive():
    df = parse("# escape=`\n\nFROM scratch\nRUN a `\n# dropped\n    b\nRUN c\\d\n")
    assert df.directives == ins.Directives(escape="`")
    run1, run2 = df.stages[0].instructions
    assert (run1.line, run1.command) == (4, "a     b")
    assert run2.command == "c\\d"


def test_directive_after_comment_is_a_comment():
    df = parse("# a comment\n# escape=`\nFROM scratch\nRUN a \\\n b\n")
    assert df.directives.escape == "\\"
    assert df.stages[0].instructions[0].command == "a  b"


def test_hash_inside_line_is_not_a_comment():
    assert one("RUN echo # not a comment").command == "echo # not a comment"


def test_onbuild():
    inst = one("ONBUILD ADD . /app/src")
    assert inst == ins.Onbuild(line=2, original="ONBUILD ADD . /app/src",
                               expression="ADD . /app/src",
                               trigger=ins.Add(line=2, original="ADD . /app/src",
                                               sources=(".",), dest="/app/src"))


def test_healthcheck():
    assert one("HEALTHCHECK NONE").test == ("NONE",)
    hc = one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1.5s "
             "--start-interval=100ms --retries=3 CMD curl -f http://localhost/ || exit 1")
    assert hc.test == ("CMD-SHELL", "curl -f http://localhost/ || exit 1")
    assert (hc.interval, hc.timeout, hc.start_period, hc.start_interval, hc.retries) == (
        300_000_000_000, 3_000_000_000, 1_500_000_000, 100_000_000, 3)
    assert one('HEALTHCHECK CMD ["/bin/check", "-q"]').test == ("CMD", "/bin/check", "-q")


def test_parse_instruction_alone():
    assert parse_instruction("expose 80") == ins.Expose(line=1, original="expose 80",
                                                        ports=("80",))


def test_stage_lookup():
    df = parse("FROM a AS one\nFROM b AS two\n")
    assert df.stage("TWO").index == 1 and df.stage("0").name == "one"
    assert df.stage("three") is None and df.stage("5") is None


@pytest.mark.parametrize("text, message", [
    ("", "the Dockerfile (Dockerfile) cannot be empty"),
    ("# only a comment\n", "Dockerfile: file with no instructions"),
    ("ARG A\n", "Dockerfile: dockerfile contains no stages to build"),
    ("FROM a\nRUN x\nRUNN y\n", "Dockerfile:3: unknown instruction: RUNN"),
    ("FROM a\n\n\nENV =x\n", "Dockerfile:4: ENV names can not be blank"),
    ("FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
    ("FROM a\nENV onlykey\n", "Dockerfile:2: ENV must have two arguments"),
    ("FROM a\nENV a=1 b\n", 'Dockerfile:2: Syntax error - can\'t find = in "b". '
     "Must be of the form: name=value"),
    ("FROM a\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument"),
    ("FROM a\nARG =x\n", "Dockerfile:2: ARG names can not be blank"),
    ("RUN echo\nFROM a\n", "Dockerfile:1: no build stage in current context"),
    ("FROM\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", 'Dockerfile:1: invalid name for build stage: "1x", name can\'t '
     "start with a number or contain symbols"),
    ("FROM a AS x\nFROM b AS X\n", 'Dockerfile:2: duplicate stage name "x"'),
    ("FROM a\nSHELL /bin/bash -c\n",
     "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ('FROM a\nSHELL ["/bin/sh", "-c"\n',
     "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ("FROM a\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument"),
    ('FROM a\nCMD ["a", 1]\n', "Dockerfile:2: when using JSON array syntax, arrays must "
     "be comprised of strings only"),
    ("FROM a\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments, but "
     "only one was provided. Destination could not be determined"),
    ("FROM a\nCOPY --chwon=1 a b\n", "Dockerfile:2: unknown flag: chwon"),
    ("FROM a\nCOPY --chown a b\n", "Dockerfile:2: missing a value on flag: chown"),
    ("FROM a\nCOPY --from=x --from=y a b\n", "Dockerfile:2: duplicate flag specified: from"),
    ("FROM a AS x\nCOPY --from=x /a /b\n",
     "Dockerfile:2: circular dependency detected on stage: x"),
    ("FROM a\nCOPY --from=0 /a /b\n", "Dockerfile:2: invalid from flag value 0: refers to "
     "current or future build stage"),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n",
     "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
    ("FROM a\nRUN <<EOF\nnever ends\n", "Dockerfile:2: unterminated heredoc"),
    ("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"),
    ("FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument"),
    ("FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument"),
    ('FROM a\nVOLUME [""]\n', "Dockerfile:2: VOLUME specified can not be an empty string"),
    ("FROM a\nONBUILD ONBUILD RUN x\n",
     "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD maintainer me\n",
     "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD RUNN x\n", "Dockerfile:2: unknown instruction: RUNN"),
    ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK FOO x\n",
     'Dockerfile:2: Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ("FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK --interval=5 CMD x\n",
     'Dockerfile:2: time: missing unit in duration "5"'),
    ("FROM a\nHEALTHCHECK --timeout=1us CMD x\n",
     'Dockerfile:2: Interval "timeout" cannot be less than 1ms'),
    ("FROM a\nHEALTHCHECK --retries=0 CMD x\n",
     "Dockerfile:2: --retries must be at least 1 (not 0)"),
    ("# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# escape=\\\nFROM a\n",
     "Dockerfile:2: only one escape parser directive can be used"),
    ("FROM a\nRUN x \\\n  y\nBOGUS\n", "Dockerfile:4: unknown instruction: BOGUS"),
])
def test_errors(text, message):
    with pytest.raises(DockerfileSyntaxError) as info:
        parse(text)
    assert str(info.value) == message
    assert isinstance(info.value, BuildError)


def test_error_attributes():
    with pytest.raises(DockerfileSyntaxError) as info:
        parse("FROM a\nRUN ok\nRUNN x\n", file="app.Dockerfile")
    err = info.value
    assert (err.file, err.line, err.message) == ("app.Dockerfile", 3, "unknown instruction: RUNN")
    assert str(err) == "app.Dockerfile:3: unknown instruction: RUNN"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.Dockerfile")), ids=lambda p: p.name)
def test_course_dockerfiles_parse(path):
    df = parse(path.read_text(), file=path.name)
    assert df.stages and all(s.instructions for s in df.stages)


def test_course_multistage():
    df = parse((FIXTURES / "multistage01.Dockerfile").read_text())
    compiler, final = df.stages
    assert compiler.name == "compiler" and final.base == "ubuntu"
    copy, cmd = final.instructions
    assert (copy.from_, copy.from_stage, copy.sources, copy.dest) == (
        "compiler", 0, ("/hello",), "/hello")
    assert cmd.command == "/hello"


def test_course_apache():
    df = parse((FIXTURES / "apache.Dockerfile").read_text())
    (stage,) = df.stages
    kinds = [type(i).__name__ for i in stage.instructions]
    assert kinds == ["Maintainer", "Run", "Run", "Volume", "Workdir", "Env", "Env", "Env",
                     "Env", "Env", "Env", "Run", "Expose", "Entrypoint", "Cmd"]
    assert stage.instructions[-2].command == ("/usr/sbin/apache2",)
    assert stage.instructions[-1].command == ("-D", "FOREGROUND")
