"""``pyker build``: a Dockerfile and its context → an image, step by step, as Docker's
classic builder does it.

Every step starts from the image the previous step made and makes a new one, whose
``parent`` is recorded: the intermediate images are real (``images -a`` lists them as
``<none>``, ``history`` shows their IDs) and they are the build cache (:mod:`.cache`).
A step that changes files adds a layer (:mod:`.steps`); the others only change the config
(:mod:`.metadata`) and add an ``empty_layer`` history row.

Build args follow Docker's scoping: ``ARG`` before the first ``FROM`` is global and usable
only in ``FROM`` lines (a stage redeclares it, without a value, to use it inside); an ``ARG``
in a stage lasts to the end of that stage; ``--build-arg`` overrides a default; a RUN sees
the args in scope in its environment (``ENV`` wins over an ``ARG`` of the same name), and
its history row starts with ``|N NAME=value…`` as Docker's does, so that the args it saw are
part of its cache key. Only the stages the target needs are built.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from pyker.build import instructions as ins
from pyker.build import metadata as meta
from pyker.build import copying, stages, steps
from pyker.build.bases import base_image
from pyker.build.cache import BuildCache, StepKey
from pyker.build.context import BuildContext, is_remote
from pyker.build.output import Output, short
from pyker.build.parser import parse, parse_instruction
from pyker.build.substitution import expand, expand_words
from pyker.errors import BuildError
from pyker.image.platform import host_architecture, host_variant
from pyker.image.reference import Reference
from pyker.image.store import Image, now_rfc3339
from pyker.spec.image import HistoryEntry, ImageConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    tags: tuple[Reference, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict, hash=False)
    no_cache: bool = False
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    network: str = "host"  # RUN's network: the host's until bridge networking exists
    pull: str = "missing"  # FROM/COPY --from images: pulled when missing, or "always"


@dataclass(slots=True)
class _Stage:
    """Where a stage stands: the last image, the config the next step builds on, its ARGs."""

    image: Image | None
    config: ImageConfig
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False

    @property
    def parent(self) -> str:
        return self.image.id if self.image else ""

    def env(self) -> dict[str, str]:
        """What ``$VAR`` means in this stage: the ARGs in scope, then ENV over them."""
        out = {k: v for k, v in self.args.items() if v is not None}
        out.update(meta.env_dict(self.config.config))
        return out


def _scratch_config() -> ImageConfig:
    return ImageConfig(architecture=host_architecture(), os="linux", diff_ids=(),
                       variant=host_variant())


class Builder:
    def __init__(self, engine, context: BuildContext, options: BuildOptions,
                 output: Output) -> None:
        self.engine, self.store, self.context = engine, engine.images, context
        self.options, self.out = options, output
        self.cache = BuildCache(self.store)
        self.dockerfile = parse(context.dockerfile, file=context.dockerfile_name)
        self.escape = self.dockerfile.directives.escape
        self.consumed: set[str] = set()
        self.meta_args = self._global_args()
        self.built: dict[int, Image | None] = {}
        self.step_no, self.total = 0, 0

    def _image(self, name: str) -> Image:
        return base_image(self.engine, name, self.options.pull, self.out)

    # -- the whole build -------------------------------------------------------------------

    def build(self) -> Image:
        """Raises: BuildError (and its subclasses), ImageNotFound for a missing base."""
        self.context.remember_hashes(self.cache.files_dir)
        try:
            return self._build()
        finally:
            self.context.hashes.save()  # what was read stays true, even for a failed build

    def _build(self) -> Image:
        for warning in self.dockerfile.warnings:
            self.out.warning(warning)
        target = stages.target(self.dockerfile, self.options.target)
        needed = stages.needed(self.dockerfile, target.index, self.meta_args, self.escape)
        chosen = [s for s in self.dockerfile.stages if s.index in needed]
        if self.options.labels:  # the classic builder appends one LABEL to the last stage
            label = ins.Label(line=0, original="LABEL " + " ".join(
                f"{k}={v}" for k, v in self.options.labels.items()),
                pairs=tuple(self.options.labels.items()))
            chosen[-1] = replace(chosen[-1], instructions=(*chosen[-1].instructions, label))
        self.total = sum(1 + len(s.instructions) for s in chosen)
        for stage in chosen:
            self.built[stage.index] = self._stage(stage)
        image = self.built[target.index]
        if image is None:
            raise BuildError("the target stage is empty: FROM scratch with no instruction "
                             "makes no image")
        unused = sorted(set(self.options.build_args) - self.consumed - meta.PREDEFINED_ARGS)
        if unused:
            self.out.warning(f"One or more build-args [{' '.join(unused)}] were not consumed")
        self.out.line(f"Successfully built {short(image.id)}")
        # A rebuild that ends on the image already tagged so changes nothing: no lock, no
        # index write (image.tags were read from index.json at this build's last step; a
        # tag another command moves meanwhile is as if it had moved just after ours).
        if self.options.tags and not all(ref.tagged() in image.tags
                                         for ref in self.options.tags):
            with self.store.locked():
                for ref in self.options.tags:
                    self.store.tag(image, ref)
            for ref in self.options.tags:
                self.out.line(f"Successfully tagged {ref.familiar()}")
        from pyker import events

        # Docker's classic builder records no "build" event; pyker's names what it made.
        events.image(self.store.root, "build", image.id,
                     self.options.tags[0].tagged().familiar() if self.options.tags else image.id,
                     image.config.config.labels)
        return self.store.get(image.id)

    def _global_args(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for arg in self.dockerfile.global_args:
            for spec in arg.args:
                self.consumed.add(spec.name)
                if spec.name in self.options.build_args:
                    values[spec.name] = self.options.build_args[spec.name]
                elif spec.default is not None:
                    values[spec.name] = expand(spec.default, values, escape=self.escape)
        return values

    # -- one stage -------------------------------------------------------------------------

    def _stage(self, stage: ins.Stage) -> Image | None:
        self._announce(stage.original)
        base = expand(stage.base, self.meta_args, escape=self.escape)
        ref = stages.reference(self.dockerfile, base, stage.index)
        if ref is not None:
            image = self.built[ref]
        elif base.lower() == "scratch":
            image = None
        else:
            image = self._image(base)
        state = _Stage(image=image, config=image.config if image else _scratch_config())
        triggers = image.config.config.on_build if image else ()
        if triggers:
            # Run once, in this child build; the child's config forgets them (grandchildren
            # do not inherit them).
            state.config = replace(state.config, config=replace(state.config.config,
                                                                on_build=()))
            self.out.line(f"# Executing {len(triggers)} build trigger"
                          f"{'s' if len(triggers) > 1 else ''}")
            for text in triggers:
                self._dispatch(state, parse_instruction(text, line=stage.line,
                                                        escape=self.escape))
        elif image is not None:
            self.out.image(image.id)
        for inst in stage.instructions:
            self._announce(inst.original)
            self._dispatch(state, inst)
        return state.image

    def _announce(self, text: str) -> None:
        self.step_no += 1
        self.out.step(self.step_no, self.total, text)

    def _dispatch(self, state: _Stage, inst: ins.Instruction) -> None:
        if isinstance(inst, ins.Run):
            self._run(state, inst)
        elif isinstance(inst, (ins.Copy, ins.Add)):
            self._copy(state, inst)
        elif isinstance(inst, ins.Workdir):
            self._workdir(state, inst)
        else:
            self._metadata(state, inst)

    # -- steps -----------------------------------------------------------------------------

    def _cached(self, state: _Stage, key: StepKey) -> bool:
        hit = None if self.options.no_cache else self.cache.lookup(key)
        if hit is None:
            return False
        self.out.using_cache()
        self._adopt(state, hit)
        return True

    def _adopt(self, state: _Stage, image: Image) -> None:
        state.image, state.config = image, image.config
        self.out.image(image.id)

    def _commit(self, state: _Stage, config, created_by: str, key: StepKey,
                spool=None, name: str = "") -> None:
        """The step's image: the stage's config with ``config``, one more history row, and
        the layer in ``spool`` when there is one; recorded in the cache under ``key``."""
        created = now_rfc3339()
        row = HistoryEntry(created=created, created_by=created_by, empty_layer=spool is None)
        image_config = replace(state.config, config=config, created=created,
                               history=(*state.config.history, row))
        with self.store.locked():
            layers = list(state.image.manifest.layers) if state.image else []
            if spool is not None:
                desc, layer = self.store.add_layer(spool, name=name)
                layers.append(desc)
                image_config = replace(image_config,
                                       diff_ids=(*state.config.diff_ids, layer.diff_id))
            image = self.store.commit(image_config, layers, parent=state.parent)
            self.cache.record(key, image.id)
        self._adopt(state, image)

    def _words(self, state: _Stage, inst: ins.Instruction) -> dict[str, object]:
        env, esc = state.env(), self.escape
        if isinstance(inst, (ins.Env, ins.Label)):
            return {"pairs": tuple((expand(k, env, escape=esc), expand(v, env, escape=esc))
                                   for k, v in inst.pairs)}
        if isinstance(inst, ins.Expose):
            return {"ports": [w for p in inst.ports for w in expand_words(p, env, escape=esc)]}
        if isinstance(inst, (ins.User, ins.Stopsignal)):
            raw = inst.user if isinstance(inst, ins.User) else inst.signal
            return {"value": expand(raw, env, escape=esc)}
        if isinstance(inst, ins.Volume):
            return {"paths": [expand(p, env, escape=esc) for p in inst.paths]}
        if isinstance(inst, ins.Arg):
            return {"args": [s.name if s.default is None else f"{s.name}={s.default}"
                             for s in inst.args]}
        return {}

    def _metadata(self, state: _Stage, inst: ins.Instruction) -> None:
        if isinstance(inst, ins.Arg):
            self._declare(state, inst)
        config, created_by = meta.apply(inst, state.config.config, self._words(state, inst),
                                        cmd_set=state.cmd_set)
        if isinstance(inst, ins.Cmd):
            state.cmd_set = True
        key = StepKey(parent=state.parent, instruction=created_by)
        if self._cached(state, key):
            return
        if isinstance(inst, ins.Maintainer):
            state.config = replace(state.config, author=inst.name)
        self._commit(state, config, created_by, key)

    def _declare(self, state: _Stage, inst: ins.Arg) -> None:
        for spec in inst.args:
            self.consumed.add(spec.name)
            if spec.name in self.options.build_args:
                value: str | None = self.options.build_args[spec.name]
            elif spec.default is not None:
                value = expand(spec.default, state.env(), escape=self.escape)
            else:
                value = self.meta_args.get(spec.name)
            state.args[spec.name] = value

    def _run(self, state: _Stage, inst: ins.Run) -> None:
        if state.image is None:
            raise BuildError(f"line {inst.line}: RUN needs a base image: this stage is "
                             "FROM scratch with nothing in it yet")
        config = state.config.config
        command = inst.command
        if isinstance(command, str) and inst.heredocs:
            command = _with_heredocs(command, inst.heredocs)
        argv = meta.command_argv(command, config)
        image_env = meta.env_dict(config)
        args = {k: v for k, v in state.args.items() if v is not None and k not in image_env}
        prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args.items()) + " " \
            if args else ""
        created_by = prefix + " ".join(argv)
        key = StepKey(parent=state.parent, instruction=created_by, build_args=args)
        if self._cached(state, key):
            return
        proxies = meta.proxy_env(self.options.build_args, args, image_env)
        request = steps.RunRequest(argv=argv, shown=" ".join(argv),
                                   env=tuple(f"{k}={v}" for k, v in {**args, **proxies}.items()),
                                   network=self.options.network)
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
            with self.out.container_output():
                steps.run_in_container(self.engine, state.image, request, spool,
                                       on_start=self.out.running_in,
                                       on_remove=self._removed)
            self._commit(state, config, created_by, key, spool, name=f"RUN line {inst.line}")

    def _removed(self, container_id: str) -> None:
        self.out.removing(container_id)

    def _workdir(self, state: _Stage, inst: ins.Workdir) -> None:
        config = state.config.config
        path = meta.resolve_workdir(config.working_dir,
                                    expand(inst.path, state.env(), escape=self.escape))
        created_by = meta.nop(meta.shell_of(config), f"WORKDIR {path}", spaces=1)
        key = StepKey(parent=state.parent, instruction=created_by)
        if self._cached(state, key):
            return
        new_config = replace(config, working_dir=path)
        with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
            with steps.mounted(self.store, state.image) as paths:
                created = steps.make_dirs(paths.rootfs, path)
                if created:  # a layer only when the directory had to be made
                    steps.unmount(paths)
                    steps.pack_upper(paths.upper, spool, container=False,
                                     shift=self.engine.images.shift)
            self._commit(state, new_config, created_by, key, spool if created else None,
                         name=f"WORKDIR {path}")

    # -- COPY / ADD ------------------------------------------------------------------------

    def _copy(self, state: _Stage, inst: ins.Copy | ins.Add) -> None:
        env, esc = state.env(), self.escape
        if inst.heredocs:
            raise BuildError(f"line {inst.line}: {_name(inst)} from a heredoc is not "
                             "supported yet")
        sources = [expand(s, env, escape=esc) for s in inst.sources]
        for source in sources:
            if is_remote(source):
                raise BuildError(f"{_name(inst)} {source}: remote sources are refused: a "
                                 "pyker build has no network (download it into the context)")
        dest = expand(inst.dest, env, escape=esc)
        if not dest.startswith("/"):  # relative to WORKDIR, its trailing slash kept
            workdir = state.config.config.working_dir or "/"
            dest = workdir.rstrip("/") + "/" + dest
        chown = expand(inst.chown, env, escape=esc)
        from_ = expand(inst.from_, env, escape=esc) if isinstance(inst, ins.Copy) else ""
        with self._source(inst, from_) as (context, origin):
            found = [context.resolve(s) for s in sources]
            checksum = origin or context.checksum(p for paths in found for p in paths)
            flags = " ".join(f for f in (f"--from={from_}" if from_ else "",
                                         f"--chown={chown}" if chown else "",
                                         f"--chmod={inst.chmod}" if inst.chmod else "") if f)
            text = " ".join(w for w in (_name(inst), flags, *sources, dest) if w)
            key = StepKey(parent=state.parent, instruction=text, sources=checksum)
            if self._cached(state, key):
                return
            kind = "dir" if len(found) == 1 and len(found[0]) == 1 and found[0][0].is_dir() \
                else "file" if sum(map(len, found)) == 1 else "multi"
            created_by = meta.nop(meta.shell_of(state.config.config),
                                  f"{_name(inst)} {kind}:{checksum.removeprefix('sha256:')} "
                                  f"in {dest} ", spaces=1)
            with tempfile.TemporaryFile(dir=self.store.tmp_dir) as spool:
                with steps.mounted(self.store, state.image) as paths:
                    owner = copying.owner(paths.rootfs, chown, inst.chmod)
                    copying.copy_into(paths.rootfs, found, dest, context.walk, owner,
                                    extract=isinstance(inst, ins.Add))
                    steps.unmount(paths)
                    steps.pack_upper(paths.upper, spool, container=False,
                                     shift=self.engine.images.shift)
                self._commit(state, state.config.config, created_by, key, spool, name=text)

    @contextmanager
    def _source(self, inst: ins.Copy | ins.Add, from_: str) -> Iterator[tuple[BuildContext, str]]:
        """Where sources are read: the build context, or for ``--from`` an earlier stage's
        image (or any image) mounted read-only-in-effect, with its ID as the checksum."""
        if not from_:
            yield self.context, ""
            return
        index = inst.from_stage if isinstance(inst, ins.Copy) and inst.from_stage is not None \
            else stages.reference(self.dockerfile, from_, len(self.dockerfile.stages))
        image = self.built.get(index) if index is not None else self._image(from_)
        if image is None:
            raise BuildError(f"COPY --from={from_}: that stage has no image (FROM scratch)")
        with steps.mounted(self.store, image) as paths:
            yield BuildContext(paths.rootfs, ""), image.id


def _name(inst: ins.Instruction) -> str:
    return "ADD" if isinstance(inst, ins.Add) else "COPY"


def _with_heredocs(command: str, heredocs: tuple[ins.Heredoc, ...]) -> str:
    """``RUN <<EOF`` alone runs the body as the script; otherwise the shell reads the
    here-documents itself, as written (``RUN python3 <<EOF``)."""
    if command.strip().startswith("<<") and len(heredocs) == 1 and \
            command.strip().lstrip("<-").strip("'\"") == heredocs[0].name:
        return heredocs[0].content
    text = command
    for doc in heredocs:
        text += "\n" + doc.content + doc.name
    return text + "\n"
