"""The catalog: the bundled file's content, the strict parser, overlays, and `providers`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freemodels import paths
from freemodels.core.catalog.lint import NOT_CHAT, tier_for, validate_catalog
from freemodels.core.catalog.parse import Catalog, bundled_catalog_text, load_catalog, parse_catalog
from freemodels.core.records import Model, ModelRef, Provider
from freemodels.errors import CatalogError, UsageError

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "data" / "catalog"

PROVIDER_HEAD = """
[providers.{pid}]
name = "{name}"
base_url = "{base_url}"
api_key_env = ["{env}"]
signup_url = "https://example.com/keys"
"""


def provider_toml(
    pid: str = "acme",
    *,
    name: str = "Acme",
    base_url: str = "https://api.acme.test/v1",
    env: str = "ACME_API_KEY",
    models: str = 'id = "m1"\nname = "M1"\ncontext = 8192\n',
    extra: str = "",
) -> str:
    """A small provider table (with one model table) in catalog syntax."""
    head = PROVIDER_HEAD.format(pid=pid, name=name, base_url=base_url, env=env) + extra
    return f"{head}\n[[providers.{pid}.models]]\n{models}" if models else head


def write(path: Path, text: str) -> Path:
    path.write_text("schema_version = 1\n" + text, encoding="utf-8")
    return path


# -- the bundled catalog -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> Catalog:
    return load_catalog()


def test_bundled_catalog_has_every_provider_and_enough_models(bundled: Catalog) -> None:
    ids = {p.id for p in bundled.providers}
    assert ids == {
        "nvidia", "groq", "cerebras", "googleai", "mistral", "codestral", "cloudflare",
        "openrouter", "sambanova", "ovhcloud", "zai", "scaleway", "qwen", "opencode-zen", "kilo",
        "llm7", "routeway", "novita", "ollama-cloud", "cohere", "huggingface",
    }  # fmt: skip
    assert sum(len(p.models) for p in bundled.providers) >= 150


def test_bundled_catalog_passes_every_content_check(bundled: Catalog) -> None:
    assert validate_catalog(bundled, bundled=True) == []


def test_bundled_file_is_strictly_https() -> None:
    # parse_catalog without allow_http is what the bundled file goes through.
    catalog = parse_catalog(bundled_catalog_text(), "bundled", allow_http=False)
    for provider in catalog.providers:
        assert provider.base_url.startswith("https://")
        assert provider.signup_url.startswith("https://")
    assert "http://" not in bundled_catalog_text()


def test_packaged_catalog_is_the_repository_file() -> None:
    link = ROOT / "src" / "freemodels" / "providers.toml"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "providers.toml").resolve()
    assert bundled_catalog_text() == (ROOT / "providers.toml").read_text(encoding="utf-8")


def test_bundled_facts_the_design_relies_on(bundled: Catalog) -> None:
    openrouter = bundled.provider("openrouter")
    assert openrouter is not None
    headers = dict(openrouter.headers)
    assert {"HTTP-Referer", "X-Title"} <= set(headers)
    assert (openrouter.rpm, openrouter.rpd) == (20, 50)
    cloudflare = bundled.provider("cloudflare")
    assert cloudflare is not None and cloudflare.url_variables == ("CLOUDFLARE_ACCOUNT_ID",)
    assert cloudflare.resolve_base_url({}) is None
    # Codestral keys work only on Codestral's own endpoint: its own key and quota.
    mistral, codestral = bundled.provider("mistral"), bundled.provider("codestral")
    assert mistral is not None and codestral is not None
    assert codestral.base_url == "https://codestral.mistral.ai/v1"
    assert codestral.api_key_env == ("CODESTRAL_API_KEY",) and codestral.budget_id == "codestral"
    assert (codestral.rpm, codestral.rpd) == (30, 2000)
    groq = bundled.provider("groq")
    assert groq is not None
    big = groq.model("openai/gpt-oss-120b")
    assert big is not None and big.rpd == 1000
    for keyless in ("kilo", "llm7", "ovhcloud"):
        provider = bundled.provider(keyless)
        assert provider is not None and provider.keyless and provider.key_required is False
    for trial in ("cerebras", "sambanova", "scaleway", "qwen", "novita"):
        provider = bundled.provider(trial)
        assert provider is not None and provider.trial, trial
    for provider in bundled.providers:
        assert provider.verified is not None, provider.id


def test_bundled_catalog_lists_no_retired_service(bundled: Catalog) -> None:
    # The facts of issue 17 (docs/catalog.md names the sources): none of these answers any more.
    assert bundled.provider("github-models") is None
    gone = {
        "groq": ("llama-3.3-70b-versatile", "llama-3.1-8b-instant"),
        "cloudflare": (
            "@cf/moonshotai/kimi-k2.6", "@cf/moonshotai/kimi-k2.7-code", "@cf/zai-org/glm-5.2",
        ),
        "nvidia": ("deepseek-ai/deepseek-v4-pro", "deepseek-ai/deepseek-v4-flash"),
        "mistral": ("ministral-3-14b-25-12",),
    }  # fmt: skip
    for pid, model_ids in gone.items():
        provider = bundled.provider(pid)
        assert provider is not None
        for model_id in model_ids:
            assert provider.model(model_id) is None, f"{pid}/{model_id}"


def test_bundled_catalog_fixes_the_peer_list_faults(bundled: Catalog) -> None:
    nvidia = bundled.provider("nvidia")
    assert nvidia is not None
    glm = nvidia.model("z-ai/glm-5.2")
    assert glm is not None and "5.2" in glm.name
    for _, model in bundled.models():
        assert not NOT_CHAT.search(model.id), model.id
        assert model.context > 0
        if model.swe_bench is not None and model.tier is not None:
            assert model.tier == tier_for(model.swe_bench), model.id


def test_every_provider_has_a_rate_cap(bundled: Catalog) -> None:
    # The peer's fault was an uncapped burst at every endpoint: ours always has an rpm.
    for provider in bundled.providers:
        assert provider.rpm is not None and provider.rpm > 0, provider.id


# -- the content checks find the faults they exist for -------------------------------------------


@pytest.mark.parametrize(
    ("score", "tier"),
    [(82.8, "S+"), (70.0, "S+"), (69.9, "S"), (60.0, "S"), (59.2, "A+"), (50.0, "A+"),
     (45.0, "A"), (38.0, "A-"), (35.0, "A-"), (30.0, "B+"), (22.0, "B"), (19.9, "C"), (0.0, "C")],
)  # fmt: skip
def test_tier_scale(score: float, tier: str) -> None:
    assert tier_for(score) == tier


@pytest.mark.parametrize(
    "name",
    ["Qwen3-Embedding-8B", "bge-m3", "bge-multilingual-gemma2", "BAAI/bge-large-en",
     "nvidia/nemotron-3.5-content-safety:free", "meta/llama-guard-4-12b", "jina-reranker-v2",
     "text-embedding-3-small", "whisper-large-v3", "omni-moderation-latest"],
)  # fmt: skip
def test_non_chat_models_are_recognised(name: str) -> None:
    assert NOT_CHAT.search(name)


@pytest.mark.parametrize(
    "name",
    ["deepseek-ai/deepseek-coder-6.7b-instruct", "gemma-4-31b-it", "big-pickle", "Nemotron 3 Super",
     "bigcode/starcoder2", "Qwen3 Coder 480B", "kilo-auto/free"],
)  # fmt: skip
def test_chat_models_are_not_mistaken_for_embeddings(name: str) -> None:
    assert not NOT_CHAT.search(name)


def lint_overlay(tmp_path: Path, text: str) -> list[str]:
    overlay = write(tmp_path / "overlay.toml", text)
    return validate_catalog(load_catalog(overlay=overlay))


def test_overlay_with_a_tier_contradicting_its_score_is_reported(tmp_path: Path) -> None:
    models = 'id = "nano"\nname = "Nano 9B"\ncontext = 131072\ntier = "B+"\nswe_bench = 18.0\n'
    problems = lint_overlay(tmp_path, provider_toml(models=models))
    assert problems == ["acme/nano: tier 'B+' contradicts swe_bench 18 ('C')"]


def test_overlay_with_an_embedding_model_is_reported(tmp_path: Path) -> None:
    models = 'id = "bge-m3"\nname = "BGE M3"\ncontext = 8192\n'
    problems = lint_overlay(tmp_path, provider_toml(models=models))
    assert len(problems) == 1 and problems[0].startswith("acme/bge-m3: looks like an embedding")


def test_overlay_with_a_mislabelled_model_is_reported(tmp_path: Path) -> None:
    models = 'id = "z-ai/glm-5.2"\nname = "GLM 5.1"\ncontext = 131072\n'
    problems = lint_overlay(tmp_path, provider_toml(models=models))
    assert problems == ["acme/z-ai/glm-5.2: name 'GLM 5.1' names version 5.1 but the id does not"]


def test_overlay_provider_without_models_is_reported(tmp_path: Path) -> None:
    problems = lint_overlay(tmp_path, provider_toml(models=""))
    assert problems == ["acme: has no model"]


def test_overlay_may_use_http_but_the_bundled_rules_may_not(tmp_path: Path) -> None:
    overlay = write(
        tmp_path / "o.toml",
        provider_toml(base_url="http://127.0.0.1:8080/v1", extra="verified = 2026-11-30\n"),
    )
    catalog = load_catalog(overlay=overlay)
    assert validate_catalog(catalog) == []
    assert validate_catalog(catalog, bundled=True) == [
        "acme: base_url 'http://127.0.0.1:8080/v1' is not https://"
    ]


def test_checks_on_records_the_parser_never_builds() -> None:
    # validate_catalog also guards catalogs built in code (the demo fleet, tests).
    model = Model(id="m", name="M", context=0)
    provider = Provider(
        id="p",
        name="P",
        base_url="ftp://x",
        api_key_env=("bad name",),
        signup_url="http://x",
        models=(model, model),
    )
    problems = validate_catalog(Catalog((provider,)))
    assert "p: base_url 'ftp://x' is not https:// or http://" in problems
    assert "p: signup_url 'http://x' is not https://" in problems
    assert "p: api_key_env 'bad name' is not an environment variable name" in problems
    assert "p/m: listed twice" in problems
    assert "p/m: context 0 is not a positive number of tokens" in problems


# -- the strict parser on bad files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("not_toml.toml", ["not valid TOML", "line 3"]),
        ("missing_base_url.toml", ["provider 'groq'", "missing required key 'base_url'"]),
        ("wrong_type.toml", ["model 'llama-3.3-70b-versatile'", "key 'context'", "wrong type"]),
        ("model_without_id.toml", ["provider 'groq', model #2", "missing required key 'id'"]),
        ("duplicate_model.toml", ["model 'llama-3.3-70b-versatile'", "duplicate model id"]),
        ("unknown_key.toml", ["model 'llama-3.3-70b-versatile'", "unknown key 'contxt'"]),
        ("http_in_bundled.toml", ["provider 'groq'", "key 'base_url'", "https://"]),
        ("unknown_tier.toml", ["model 'llama-3.3-70b-versatile'", "key 'tier'"]),
        ("bad_key_variable.toml", ["provider 'groq'", "key 'api_key_env'"]),
        ("unknown_score.toml", ["model 'llama-3.3-70b-versatile'", "key 'swe_bench'"]),
        ("zero_context.toml", ["model 'llama-3.3-70b-versatile'", "key 'context'", "positive"]),
    ],
)
def test_bad_catalog_file_is_a_clear_error(filename: str, expected: list[str]) -> None:
    path = BAD / filename
    with pytest.raises(CatalogError) as info:
        parse_catalog(path.read_text(encoding="utf-8"), str(path), allow_http=False)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message
    assert "\n" not in message


def test_http_is_the_only_fault_of_the_http_file() -> None:
    # http is fine in --catalog files and overlays, so that file must fail for http alone.
    parse_catalog((BAD / "http_in_bundled.toml").read_text(), "x", allow_http=True)


def test_missing_catalog_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such catalog file"):
        load_catalog(tmp_path / "absent.toml")


def test_bad_overlay_names_the_overlay_file(tmp_path: Path) -> None:
    overlay = write(tmp_path / "providers.toml", provider_toml(extra="rpm = -1\n"))
    with pytest.raises(CatalogError) as info:
        load_catalog(overlay=overlay)
    assert str(info.value).startswith(f"{overlay}: provider 'acme': key 'rpm'")


# -- overlays and --catalog ----------------------------------------------------------------------


def test_overlay_fields_override_and_models_add_or_override_by_id(tmp_path: Path) -> None:
    overlay = write(
        tmp_path / "providers.toml",
        """
[providers.groq]
rpm = 5
headers = { "X-Team" = "qa" }

[[providers.groq.models]]
id = "openai/gpt-oss-120b"
name = "GPT OSS 120B (mine)"
context = 65536

[[providers.groq.models]]
id = "my-new-model"
name = "My New Model"
context = 32768
"""
        + provider_toml("local", base_url="http://127.0.0.1:9999/v1"),
    )
    base = load_catalog()
    merged = load_catalog(overlay=overlay)
    groq, base_groq = merged.provider("groq"), base.provider("groq")
    assert groq is not None and base_groq is not None
    assert groq.rpm == 5
    assert groq.base_url == base_groq.base_url  # untouched fields survive
    assert dict(groq.headers) == {"X-Team": "qa"}
    overridden = groq.model("openai/gpt-oss-120b")
    assert overridden is not None and overridden.context == 65536
    assert overridden.name == "GPT OSS 120B (mine)"
    assert groq.model("my-new-model") is not None
    assert len(groq.models) == len(base_groq.models) + 1
    local = merged.provider("local")
    assert local is not None and local.base_url == "http://127.0.0.1:9999/v1"
    assert merged.sources == (*base.sources, str(overlay))


def test_catalog_option_replaces_the_bundled_catalog_and_ignores_the_overlay(
    tmp_path: Path,
) -> None:
    overlay = write(tmp_path / "overlay.toml", provider_toml("extra"))
    replacement = write(tmp_path / "mine.toml", provider_toml("only"))
    catalog = load_catalog(replacement, overlay=overlay)
    assert [p.id for p in catalog.providers] == ["only"]


def test_default_overlay_location_is_merged_by_the_cli(tmp_path: Path) -> None:
    write_overlay_file(provider_toml("mine"))
    result = run_cli("providers", "--json")
    assert result.returncode == 0, result.stderr
    assert "mine" in [p["id"] for p in json.loads(result.stdout)]


def write_overlay_file(text: str) -> Path:
    path = paths.overlay_catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path, text)


# -- the command line ----------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m freemodels ARGS` with the test's isolated environment."""
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("filename", sorted(p.name for p in BAD.glob("*.toml")))
def test_cli_with_a_bad_catalog_exits_2_with_one_line(filename: str) -> None:
    if filename == "http_in_bundled.toml":
        pytest.skip("--catalog files may use http")
    result = run_cli("--catalog", str(BAD / filename), "providers")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"freemodels: {BAD / filename}: ")
    assert "Traceback" not in result.stderr


def test_cli_catalog_option_after_the_subcommand(tmp_path: Path) -> None:
    catalog = write(tmp_path / "c.toml", provider_toml("acme"))
    result = run_cli("providers", "--json", "--catalog", str(catalog))
    assert result.returncode == 0, result.stderr
    assert [p["id"] for p in json.loads(result.stdout)] == ["acme"]


def test_providers_json_is_one_array_with_every_field() -> None:
    result = run_cli("providers", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # exactly one JSON document, nothing else
    assert isinstance(document, list) and len(document) == 21
    groq = next(p for p in document if p["id"] == "groq")
    assert set(groq) == {
        "id", "name", "base_url", "api_key_env", "signup_url", "key_required", "rpm", "rpd",
        "budget", "free", "until", "verified", "models",
    }  # fmt: skip
    assert (groq["free"], groq["until"], groq["verified"]) == ("tier", None, "2026-11-30")
    big = next(m for m in groq["models"] if m["id"] == "openai/gpt-oss-120b")
    assert big == {
        "id": "openai/gpt-oss-120b",
        "name": "GPT OSS 120B",
        "context": 131072,
        "max_output": 65536,
        "tier": "S",
        "swe_bench": 62.4,
        "reasoning": True,
        "tool_calls": None,
        "rpd": 1000,
        "until": None,
    }
    cerebras = next(p for p in document if p["id"] == "cerebras")
    assert cerebras["free"] == "trial"
    assert result.stderr == ""  # the bundled catalog has nothing to warn about


def test_providers_table_lists_providers() -> None:
    result = run_cli("providers")
    assert result.returncode == 0, result.stderr
    assert "groq" in result.stdout and "OPENROUTER" in result.stdout


def test_providers_warns_about_a_faulty_overlay_on_stderr() -> None:
    models = 'id = "bge-m3"\nname = "BGE M3"\ncontext = 8192\n'
    write_overlay_file(provider_toml(models=models))
    result = run_cli("providers", "--json")
    assert result.returncode == 0
    json.loads(result.stdout)
    assert "acme/bge-m3: looks like an embedding" in result.stderr


# -- the README table ----------------------------------------------------------------------------


def test_readme_provider_table_matches_the_catalog() -> None:
    script = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "provider_table.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    begin, end = "<!-- BEGIN providers -->\n", "<!-- END providers -->"
    section = readme[readme.index(begin) + len(begin) : readme.index(end)]
    assert section == script.stdout, "run `python scripts/provider_table.py --write`"
    assert "| Groq |" in section


def test_a_model_ref_splits_at_the_first_slash_and_prints_back() -> None:
    ref = ModelRef.parse("nvidia/meta/llama-3.3-70b-instruct")
    assert (ref.provider, ref.model) == ("nvidia", "meta/llama-3.3-70b-instruct")
    assert str(ref) == "nvidia/meta/llama-3.3-70b-instruct"
    assert {ref: 1}[ModelRef("nvidia", "meta/llama-3.3-70b-instruct")] == 1, "hashable by value"
    assert sorted([ModelRef("b", "a"), ModelRef("a", "z")])[0] == ModelRef("a", "z")
    for bad in ("groq", "/m", "groq/", ""):
        with pytest.raises(ValueError, match="PROVIDER/MODEL"):
            ModelRef.parse(bad)


def test_find_is_the_one_lookup_from_a_ref_to_the_catalog() -> None:
    catalog = parse_catalog(provider_toml() + provider_toml("beta", env="BETA_KEY"), "test")
    provider, model = catalog.find(ModelRef("beta", "m1"))
    assert (provider.id, model.id) == ("beta", "m1")
    assert catalog.get(ModelRef("beta", "nope")) is None
    assert list(catalog.refs()) == [ModelRef("acme", "m1"), ModelRef("beta", "m1")]
    with pytest.raises(UsageError, match="unknown provider 'nope'; choose one of: acme, beta") as e:
        catalog.find(ModelRef("nope", "m1"))
    assert e.value.hint
    with pytest.raises(UsageError, match="acme has no model 'm2'; choose one of: m1"):
        catalog.find(ModelRef("acme", "m2"))
