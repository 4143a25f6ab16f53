"""LLM drawing: code extraction, feedback, the offline drawer backend, and the loop end to end on a loopback
OpenAI-compatible server replaying a scripted session (a broken program, its fix, an improvement)."""

import json

import numpy as np
import pytest

from jaxinterp.agent.checkup import drawer, llm, run
from jaxinterp.agent.checkup.concepts import concept
from jaxinterp.cli import main
from tests.agent.fake_openai import serve


def test_extract_code_takes_the_longest_fenced_block_or_bare_code():
    reply = "Here:\n```python\nimport a\nx = 1\n```\nand a note\n```\nprint(2)\n```"
    assert llm.extract_code(reply) == "import a\nx = 1\n"
    assert llm.extract_code("import numpy as np\nnp.zeros(1)") == "import numpy as np\nnp.zeros(1)\n"
    assert llm.extract_code("I cannot draw that.") == ""


def test_feedback_is_the_error_or_a_request_to_improve():
    c = concept("bicycle")
    assert llm.feedback(c, "NameError: name 'mp' is not defined").startswith("The program failed:\nNameError")
    assert "draw a more accurate a bicycle" in llm.feedback(c, "")


def test_offline_drawer_reveals_its_template_over_the_rounds():
    backend = llm.OfflineDrawer(seed=1, incremental=True)
    messages = llm.draw_messages(concept("house"))
    programs = []
    for _ in range(4):
        reply = backend.chat(llm.ChatRequest(messages, max_tokens=100, temperature=0.0)).text
        programs.append(llm.extract_code(reply))
        messages = [*messages, llm.ChatMessage("assistant", reply), llm.ChatMessage("user", "improve")]
    lengths = [len(p.splitlines()) for p in programs]
    assert lengths[0] < lengths[1] < lengths[2] == lengths[3]
    # The last draft is the whole template program: the same as a plain (non-incremental) reply.
    request = llm.ChatRequest(llm.draw_messages(concept("house")), max_tokens=100, temperature=0.0)
    plain = llm.OfflineDrawer(seed=1).chat(request)
    assert llm.extract_code(plain.text) == programs[-1]


class _FakeRecogniser:
    """Knows three captions and ranks every drawing 'square' > 'circle' > 'star'."""

    name = "fake"
    captions = ("circle", "square", "star")

    def scores(self, images):
        return np.tile([0.5, 1.0, 0.0], (len(images), 1))

    def embed(self, images):
        return images.reshape(len(images), -1)[:, ::97].astype(float) + 1


def test_generate_measures_fidelity_and_diversity_with_a_recogniser(tmp_path):
    backend = llm.OfflineDrawer(seed=0)
    summary = run.generate([concept("circle")], backend, tmp_path, samples=2, recognisers={"shapes": _FakeRecogniser()},
                           show_progress=False)  # fmt: skip
    assert summary["render_rate"] == 1.0
    m = summary["measures"]["shapes"]
    assert m["fidelity"] == {"top1": 0.0, "percentile": 0.5, "n": 2}  # 'circle' second of three, every time
    assert m["diversity"] > 0.0  # two different random circles
    assert (tmp_path / "drawings" / "circle" / "sample1" / "image.png").is_file()


_SCRIPT = [
    # Round 0: forgets to import matplotlib.patches.
    drawer.program(["ax.add_patch(mp.Circle((0.5, 0.5), 0.3, color='red'))"]).replace(
        "import matplotlib.patches as mp\n", ""
    ),
    drawer.program(["ax.add_patch(mp.Circle((0.5, 0.5), 0.3, color='red'))"]),
    drawer.program(["ax.add_patch(mp.Circle((0.5, 0.5), 0.3, color='red'))", "ax.plot([0.2, 0.8], [0.5, 0.5])"]),
]


def _replay_script(body: dict) -> str:
    """Replays `_SCRIPT`: the n-th assistant turn of a conversation gets the n-th program."""
    turn = sum(m["role"] == "assistant" for m in body["messages"])
    return f"Sure.\n```python\n{_SCRIPT[min(turn, 2)]}```"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with serve(_replay_script, usage=(100, 50)) as server:
        yield server


def test_correction_loop_end_to_end_on_a_loopback_server(server, tmp_path, capsys):
    out = tmp_path / "fix"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    args = ["checkup", "correct", "--out", str(out), "--groups", "shapes", "--concepts", "circle", "--rounds", "2"]
    args += ["--drawer", "openai:local-model", "--base-url", url, "--recogniser", "none", "--quiet"]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [r["rendered"] for r in records] == [False, True, True]
    assert "NameError" in records[0]["error"] and "'mp' is not defined" in records[0]["error"]
    # The model read the sandbox's error, then the request to improve: text only, no images.
    second, third = server.bodies[1]["messages"], server.bodies[2]["messages"]
    assert second[-1]["role"] == "user" and "NameError" in second[-1]["content"] and "Fix it" in second[-1]["content"]
    assert "Improve your code" in third[-1]["content"] and len(third) == 6
    assert all(isinstance(m["content"], str) for m in third)
    summary = json.loads((out / "summary.json").read_text())
    assert [r["render_rate"] for r in summary["per_round"]] == [0.0, 1.0, 1.0]
    assert summary["usage"]["total"]["calls"] == 3 and summary["usage"]["total"]["prompt_tokens"] == 300
    assert "round 2: rendered 1.00" in capsys.readouterr().out
    image = (out / "drawings" / "circle" / "round2" / "image.png").read_bytes()
    assert image.startswith(b"\x89PNG")


def test_generate_asks_once_per_sample_at_temperature_on_a_loopback_server(server, tmp_path):
    out = tmp_path / "gen"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    args = ["checkup", "generate", "--out", str(out), "--groups", "shapes", "--concepts", "circle", "--samples", "2"]
    args += ["--drawer", "openai:local-model", "--base-url", url, "--recogniser", "none", "--quiet"]
    assert main(args) == 0
    assert len(server.bodies) == 2 and all(b["temperature"] == 1.0 for b in server.bodies)
    assert len(list((out / "llm-cache").glob("*.json"))) == 2  # two samples of one prompt: two cache entries


def test_bad_groups_and_offline_languages_exit_2_with_one_line(tmp_path, capsys):
    assert main(["checkup", "generate", "--out", str(tmp_path), "--groups", "pets", "--quiet"]) == 2
    assert "concept groups must be among" in capsys.readouterr().err
    assert main(["checkup", "correct", "--out", str(tmp_path), "--language", "pillow", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matplotlib only" in err[0]


def test_pillow_is_the_other_language_and_its_programs_render():
    assert "Pillow" in llm.system_prompt("pillow") and "matplotlib" in llm.system_prompt()
    with pytest.raises(llm.InputError):
        llm.system_prompt("tikz")
    code = (
        "from PIL import Image, ImageDraw\n"
        "im = Image.new('RGB', (64, 48), 'white')\n"
        "ImageDraw.Draw(im).ellipse((8, 8, 40, 40), fill='red')\n"
        "im.save('image.png')\n"
    )
    result = run.render(code)
    assert result.ok and result.image.shape == (48, 64, 3)
    assert tuple(result.image[24, 24]) == (255, 0, 0) and tuple(result.image[2, 2]) == (255, 255, 255)


def test_drawings_reach_the_recogniser_at_its_input_size(tmp_path):
    class SizedRecogniser(_FakeRecogniser):
        input_size = 40
        seen: list = []

        def scores(self, images):
            self.seen.append(images.shape)
            return super().scores(images)

    recogniser = SizedRecogniser()
    run.generate([concept("circle")], llm.OfflineDrawer(seed=0), tmp_path, samples=1,
                 recognisers={"shapes": recogniser}, show_progress=False)  # fmt: skip
    assert recogniser.seen == [(1, 40, 40, 3)]
