"""Drive `algodeploy emulator` with Algorithmia's official Python packages, unchanged.

Run by `tests/conformance.rs` in two virtualenvs (made by `.ci/python-setup`):

  algorithmia:  `algorithmia==2.0.5` (the official client and `algo` CLI; pins the generated
                client `algorithmia-api-client==1.5.1`)
  api-client:   `algorithmia-api-client==1.5.5` (generated from the official spec; it
                deserializes every response into typed models, so a missing required field
                or a wrong type fails here)

Usage: python official_clients.py {algorithmia|api-client} URL KEY OTHER_KEY
Each check prints one line; the last line is `N passed, M failed`; exit 1 if any failed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

CLIENT, URL, KEY, OTHER_KEY = sys.argv[1:5]
OWNER = "demo"
RESULTS = {"passed": 0, "failed": 0}


def check(name):
    def wrap(fn):
        try:
            fn()
            RESULTS["passed"] += 1
            print(f"ok      {name}")
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            RESULTS["failed"] += 1
            print(f"FAILED  {name}")
            traceback.print_exc(file=sys.stdout)
        return fn

    return wrap


def push(name, files):
    """Commit `files` in a fresh repository and push it with the stock git client."""
    work = tempfile.mkdtemp()
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")

    def git(*args):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    for path, text in files.items():
        full = os.path.join(work, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "c")
    host = URL.split("://", 1)[1]
    git("push", "-q", "--force", f"http://{OWNER}:{KEY}@{host}/git/{OWNER}/{name}.git", "HEAD:master")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, env=env, check=True, capture_output=True, text=True)
    return head.stdout.strip()


def python_files(name):
    return {f"src/{name}.py": "def apply(input):\n    return input\n", "requirements.txt": ""}


SETTINGS = {
    "license": "apl",
    "source_visibility": "closed",
    "network_access": "isolated",
    "pipeline_enabled": False,
    "language": "python3-1",
    "environment": "cpu",
}


def legacy():
    """algorithmia 2.0.5: the hand-written client most users had."""
    import Algorithmia
    from Algorithmia.errors import AlgorithmException

    client = Algorithmia.client(KEY, URL)
    name = "legacy_" + uuid.uuid4().hex[:8]
    algo = client.algo(f"{OWNER}/{name}")
    state = {}

    @check("exists() is False before create (recognises `No such algorithm`)")
    def _():
        assert algo.exists() is False

    @check("create")
    def _():
        created = algo.create(details={"label": "Legacy"}, settings=SETTINGS, version_info={"sample_input": "hi"})
        assert created["name"] == name and len(created["id"]) == 36, created
        assert created["settings"]["algorithm_callability"] == "private"

    @check("create of an existing name raises")
    def _():
        # 2.0.5 raises POST errors with the response object, not its body, so only the
        # status reaches the caller.
        try:
            algo.create(details={"label": "Again"}, settings=SETTINGS)
        except Exception as error:  # noqa: BLE001
            assert "400" in str(error), error
        else:
            raise AssertionError("no error")

    @check("exists() and get_algorithm_id()")
    def _():
        assert algo.exists() is True
        assert len(algo.get_algorithm_id()) == 36

    @check("update() of 2.0.5 sends a form-encoded body: refused as malformed JSON, nothing changes")
    def _():
        # Upstream bug (README, "Where the official client and the OpenAPI spec disagree"): requests form-encodes the dict. The emulator
        # answers 400 code 2013 and keeps the algorithm as it was.
        try:
            algo.update(details={"label": "Changed"}, settings=SETTINGS)
        except Exception as error:  # noqa: BLE001
            assert "malformed JSON" in str(error) or "400" in str(error), error
        assert client.getJsonHelper(f"/v1/algorithms/{OWNER}/{name}")["details"]["label"] == "Legacy"

    @check("push, then get_builds / get_build / get_build_logs")
    def _():
        state["head"] = push(name, python_files(name))
        for _ in range(100):
            builds = algo.get_builds()
            done = [b for b in builds["results"] if b["commit_sha"] == state["head"] and b["status"] != "in-progress"]
            if done:
                break
            time.sleep(0.1)
        assert done and done[0]["status"] == "succeeded", builds
        build = algo.get_build(done[0]["build_id"])
        assert build["commit_sha"] == state["head"]
        assert "Build succeeded" in algo.get_build_logs(done[0]["build_id"])["logs"]

    @check("compile")
    def _():
        compiled = algo.compile()
        assert compiled["compilation"]["successful"] is True, compiled
        assert compiled["version_info"]["git_hash"] == state["head"]

    @check("publish (minor from nothing gives 0.1.0)")
    def _():
        published = algo.publish(
            details={"label": "Legacy"},
            settings={"algorithm_callability": "private"},
            version_info={"version_type": "minor", "release_notes": "first", "sample_input": "hi"},
        )
        assert published["version_info"]["semantic_version"] == "0.1.0", published

    @check("publish again without a new build: error 1007")
    def _():
        try:
            algo.publish(version_info={"version_type": "minor"})
        except Exception as error:  # noqa: BLE001
            assert "400" in str(error), error
        else:
            raise AssertionError("republished")
        # The client retried once; neither attempt made a version.
        versions = algo.versions(published=True)
        assert len(versions["results"]) == 1, versions

    @check("versions() and info()")
    def _():
        versions = algo.versions(published=True)
        assert [v["version_info"]["semantic_version"] for v in versions["results"]] == ["0.1.0"]
        assert algo.info(state["head"])["version_info"]["git_hash"] == state["head"]
        assert algo.info()["results"]

    @check("get_scm_status")
    def _():
        assert algo.get_scm_status() == {"scm_connection_status": "active"}

    @check("a bad key raises")
    def _():
        bad = Algorithmia.client("simNotAValidKey0000000000000", URL).algo(f"{OWNER}/{name}")
        try:
            bad.get_builds()
        except AlgorithmException as error:
            assert "invalid API key" in str(error), error
        else:
            raise AssertionError("no error")

    @check("another owner's algorithm: exists() raises the 403 message")
    def _():
        other = Algorithmia.client(OTHER_KEY, URL).algo(f"{OWNER}/{name}")
        try:
            other.exists()
        except Exception as error:  # noqa: BLE001
            assert "don't own" in str(error) or "not authorized" in str(error), error
        else:
            raise AssertionError("no error")

    @check("delete (through the client's HTTP helper; 2.0.5 has no delete method)")
    def _():
        response = client.deleteHelper(f"/v1/algorithms/{OWNER}/{name}")
        assert response.status_code == 204
        assert algo.exists() is False


def generated():
    """algorithmia-api-client 1.5.5: typed models from the official spec."""
    import algorithmia_api_client as api
    from algorithmia_api_client.rest import ApiException

    configuration = api.Configuration(host=URL, api_key={"Authorization": KEY}, api_key_prefix={"Authorization": "Simple"})
    algorithms = api.AlgorithmsApi(api.ApiClient(configuration))
    name = "generated_" + uuid.uuid4().hex[:8]
    state = {}

    def error_code(exception):
        return json.loads(exception.body)["error"]["code"]

    @check("create_algorithm")
    def _():
        request = api.CreateRequest(
            name=name,
            details=api.Details(label="Generated", tagline="typed"),
            settings=api.SettingsMandatory(
                source_visibility="open", license="mit", network_access="full", pipeline_enabled=True, package_set="python38"
            ),
        )
        created = algorithms.create_algorithm(OWNER, request)
        assert created.name == name and len(created.id) == 36

    @check("create_algorithm of an existing name: 400 code 1002")
    def _():
        request = api.CreateRequest(
            name=name,
            details=api.Details(label="Again"),
            settings=api.SettingsMandatory(
                source_visibility="open", license="mit", network_access="full", pipeline_enabled=True, package_set="python38"
            ),
        )
        try:
            algorithms.create_algorithm(OWNER, request)
        except ApiException as exception:
            assert exception.status == 400 and error_code(exception) == 1002
        else:
            raise AssertionError("no error")

    @check("get_algorithm (typed VersionResponse)")
    def _():
        got = algorithms.get_algorithm(OWNER, name)
        assert got.details.label == "Generated" and got.source.scm.name == "internal"

    @check("update_algorithm")
    def _():
        request = api.UpdateRequest(details=api.Details(label="Renamed", summary="# Hi"), settings=api.Settings(network_access="isolated"))
        updated = algorithms.update_algorithm(OWNER, name, request)
        assert updated.details.label == "Renamed" and updated.settings.network_access == "isolated"

    @check("get_algorithm on a missing algorithm: 404 code 1001")
    def _():
        try:
            algorithms.get_algorithm(OWNER, "missing_" + name)
        except ApiException as exception:
            assert exception.status == 404 and error_code(exception) == 1001
        else:
            raise AssertionError("no error")

    @check("push, then get_algorithm_builds / get_algorithm_build_by_id / logs")
    def _():
        state["head"] = push(name, python_files(name))
        for _ in range(100):
            builds = algorithms.get_algorithm_builds(OWNER, name, limit=10)
            done = [b for b in builds.results if b.commit_sha == state["head"] and b.status != "in-progress"]
            if done:
                break
            time.sleep(0.1)
        assert done and done[0].status == "succeeded"
        state["build"] = done[0].build_id
        build = algorithms.get_algorithm_build_by_id(OWNER, name, done[0].build_id)
        assert build.commit_sha == state["head"]
        logs = algorithms.get_algorithm_build_logs(OWNER, name, done[0].build_id)
        assert "Build succeeded" in logs.logs

    @check("compile_algorithm")
    def _():
        compiled = algorithms.compile_algorithm(OWNER, name)
        assert compiled.compilation.successful is True
        assert compiled.version_info.git_hash == state["head"]

    @check("publish_algorithm (major from nothing gives 1.0.0)")
    def _():
        request = api.VersionRequest(
            settings=api.SettingsPublish(algorithm_callability="public"),
            version_info=api.VersionInfoPublish(version_type="major", release_notes="first", sample_input="x"),
        )
        published = algorithms.publish_algorithm(OWNER, name, request)
        assert published.version_info.semantic_version == "1.0.0"
        assert published.settings.algorithm_callability == "public"

    @check("get_algorithm_versions and get_algorithm_hash_version")
    def _():
        versions = algorithms.get_algorithm_versions(OWNER, name, published=True, callable=True)
        assert [v.version_info.semantic_version for v in versions.results] == ["1.0.0"]
        assert algorithms.get_algorithm_hash_version(OWNER, name, state["head"]).version_info.semantic_version == "1.0.0"

    @check("get_algorithm_scm_connection_status")
    def _():
        assert algorithms.get_algorithm_scm_connection_status(OWNER, name).scm_connection_status == "active"

    @check("list_algorithms_for_user")
    def _():
        names = [a.algoname for a in algorithms.list_algorithms_for_user(OWNER)]
        assert name in names, names

    @check("a bad key: 401 code 2002")
    def _():
        bad = api.AlgorithmsApi(api.ApiClient(api.Configuration(host=URL, api_key={"Authorization": "simBad000000000000000000000x"})))
        try:
            bad.get_algorithm(OWNER, name)
        except ApiException as exception:
            assert exception.status == 401 and error_code(exception) == 2002
        else:
            raise AssertionError("no error")

    @check("delete_algorithm")
    def _():
        algorithms.delete_algorithm(OWNER, name)
        try:
            algorithms.get_algorithm(OWNER, name)
        except ApiException as exception:
            assert exception.status == 404
        else:
            raise AssertionError("still there")


CALLED = """import time

def apply(input):
    print("seen", repr(input))
    if isinstance(input, (bytes, bytearray)):
        return bytes(input[::-1])
    if isinstance(input, dict):
        return {"keys": sorted(input)}
    if input == "boom":
        raise ValueError("boom from the algorithm")
    if input == "slow":
        time.sleep(20)
    return "hi " + str(input)
"""


def calls():
    """algorithmia 2.0.5's call paths (`pipe`) and the `algo` CLI against the emulator's runtime."""
    import Algorithmia
    from Algorithmia.algorithm import OutputType
    from Algorithmia.errors import AlgorithmException

    client = Algorithmia.client(KEY, URL)
    name = "called_" + uuid.uuid4().hex[:8]
    algo = client.algo(f"{OWNER}/{name}")
    algo.create(details={"label": "Called"}, settings=dict(SETTINGS, license="mit", source_visibility="open"))
    head = push(name, {f"src/{name}.py": CALLED, "requirements.txt": ""})
    for _ in range(200):
        builds = algo.get_builds()["results"]
        if any(b["commit_sha"] == head and b["status"] == "succeeded" for b in builds):
            break
        time.sleep(0.1)
    algo.publish(settings={"algorithm_callability": "public"}, version_info={"version_type": "major"})
    version = client.algo(f"{OWNER}/{name}/1.0.0")

    @check("pipe(str): text in, text out")
    def _():
        response = version.pipe("Ada")
        assert response.result == "hi Ada", response.result
        assert response.metadata.content_type == "text"

    @check("pipe(dict): JSON in, JSON out")
    def _():
        response = version.pipe({"b": 1, "a": 2})
        assert response.result == {"keys": ["a", "b"]}, response.result
        assert response.metadata.content_type == "json"

    @check("pipe(bytes): bytes in, bytes out")
    def _():
        response = version.pipe(bytearray(b"abc"))
        assert response.result == b"cba", response.result
        assert response.metadata.content_type == "binary"

    @check("output=raw")
    def _():
        raw = client.algo(f"{OWNER}/{name}/1.0.0").set_options(output=OutputType.raw)
        assert raw.pipe("raw") == "hi raw"

    @check("output=void")
    def _():
        void = client.algo(f"{OWNER}/{name}/1.0.0").set_options(output=OutputType.void)
        answer = void.pipe("void")
        assert answer.async_protocol == "void" and answer.request_id, vars(answer)

    @check("an algorithm's error raises AlgorithmException with its message and stack trace")
    def _():
        try:
            version.pipe("boom")
        except AlgorithmException as error:
            assert "boom from the algorithm" in error.message, error.message
            assert "ValueError" in (error.stack_trace or ""), error.stack_trace
        else:
            raise AssertionError("no error")

    @check("a run past its timeout raises")
    def _():
        slow = client.algo(f"{OWNER}/{name}/1.0.0").set_options(timeout=1)
        started = time.time()
        try:
            slow.pipe("slow")
        except AlgorithmException as error:
            assert error.error_type == "TimeoutError", error.error_type
        else:
            raise AssertionError("no error")
        assert time.time() - started < 10

    @check("stdout=True shows what the algorithm printed (owner)")
    def _():
        loud = client.algo(f"{OWNER}/{name}/1.0.0").set_options(stdout=True)
        assert "seen 'x'" in loud.pipe("x").metadata.stdout

    home = tempfile.mkdtemp()
    os.makedirs(os.path.join(home, ".algorithmia"))
    with open(os.path.join(home, ".algorithmia", "config"), "w") as handle:
        handle.write(f"[profiles]\n[profiles.default]\napi_key = '{KEY}'\napi_server = '{URL}'\nca_cert = ''\nbearer_token = ''\n")
    algo_cli = os.path.join(os.path.dirname(sys.executable), "algo")

    def cli(*args):
        env = dict(os.environ, HOME=home)
        env.pop("ALGORITHMIA_API_KEY", None)
        out = subprocess.run([algo_cli, *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    @check("algo run OWNER/NAME/VERSION -d (text) and -j (JSON)")
    def _():
        assert cli("run", f"{OWNER}/{name}/1.0.0", "-d", "Ada").strip() == "hi Ada"
        assert "'keys': ['a']" in cli("run", f"{OWNER}/{name}/1.0.0", "-j", '{"a": 1}')

    @check("algo builds OWNER NAME")
    def _():
        builds = json.loads(cli("builds", OWNER, name))
        assert any(b["commit_sha"] == head for b in builds), builds

    @check("algo languages and algo environment LANG")
    def _():
        assert "python3" in cli("languages")
        environments = json.loads(cli("environment", "python3"))
        assert environments and environments[0]["language"]["name"] == "python3", environments


if __name__ == "__main__":
    {"algorithmia": lambda: (legacy(), calls()), "api-client": generated}[CLIENT]()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)
