"""Tools: VLM describers see one image each, the offline describer reads the scene, the exemplar threshold message,
edits interleave originals and edits, and an HTTP image endpoint plugs in."""

import http.server
import json
import threading

import numpy as np
import pytest

from jaxinterp.agent.backends import ChatResponse, Usage
from jaxinterp.agent.maia import dataset, images, neurons
from jaxinterp.agent.maia.system import ImageStore, synthetic_system
from jaxinterp.agent.maia.tools import DESCRIBE_PROMPT, Tools
from jaxinterp.errors import InputError


class StubVLM:
    provider, base_url, model = "stub", "", "stub"

    def __init__(self):
        self.calls = []

    def chat(self, request):
        self.calls.append(request.messages)
        return ChatResponse("[highlighted regions]: a star", Usage(1, 1), None, "stub")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return dataset.stack(dataset.load_source(tmp_path_factory.mktemp("maia"), "train", num_train=120, num_test=4))


def test_vlm_describes_each_image_alone_and_offline_reads_the_highlighted_concepts(pool):
    store = ImageStore()
    vlm = StubVLM()
    tools = Tools(store, pool, vlm=vlm)
    system = synthetic_system(neurons.parse_neuron("star"), store)
    pictures = tools.text2image(["a red star on sand", "a blue star on grass"])
    _, masked = system.call_neuron(pictures)
    assert tools.describe_images(masked, ["one", "two"]) == (
        '"one", highlighted regions: a star\n"two", highlighted regions: a star'
    )
    assert len(vlm.calls) == 2 and all(len(call) == 1 for call in vlm.calls)
    parts = vlm.calls[0][0].parts()
    assert parts[0] == DESCRIBE_PROMPT and len(parts) == 2 and parts[1].media_type == "image/png"
    offline = Tools(store, None)
    assert offline.describe_images(masked[:1], ["one"]) == '"one", highlighted regions: red, star; around: sand'
    assert offline.summarize_images(masked) == "[COMMON]: star"


def test_low_activations_after_exemplars_ask_to_continue(pool):
    store = ImageStore()
    tools = Tools(store, pool)
    system = synthetic_system(neurons.parse_neuron("circle"), store)
    activations, exemplars = tools.dataset_exemplars(system)
    assert len(exemplars) == 15 and activations == sorted(activations, reverse=True)
    assert min(activations) >= neurons.FIRE_BASE  # 120 images hold more than 15 circles
    low, _ = system.call_neuron(tools.text2image(["a green square on water"]))
    tools.save_experiment_log(low, tools.text2image(["a green square on water"]), ["square"], None)
    assert (
        tools.take_log()[0][-1]
        == f"Max activation is smaller than {np.mean(activations):.2f}, please continue with the experiments."
    )


def test_edit_images_interleaves_originals_and_edits_and_the_edit_changes_the_unit(pool):
    store = ImageStore()
    tools = Tools(store, pool)
    system = synthetic_system(neurons.parse_neuron("grass"), store)
    pictures, titles = tools.edit_images(["a yellow car on grass"], ["replace the grass with sand"])
    assert titles == ["a yellow car on grass", "replace the grass with sand"]
    before, after = system.call_neuron(pictures)[0]
    assert before >= neurons.FIRE_BASE > after
    with pytest.raises(InputError, match="one instruction per original"):
        tools.edit_images(["a car"], [])


class _ImageServer(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ImageHandler)
        self.requests = []


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        image = np.full((8, 8, 3), 200 if self.path == "/edit" else 50, np.uint8)
        data = json.dumps({"image": images.to_base64(image)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_http_generator_posts_prompts_and_edits(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = _ImageServer()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        store = ImageStore()
        generator = images.HttpGenerator(f"http://127.0.0.1:{server.server_address[1]}", size=8)
        tools = Tools(store, None, generator=generator)
        pictures, _ = tools.edit_images(["a cat"], ["make it blue"])
    finally:
        server.shutdown()
        server.server_close()
    assert [int(p[0, 0, 0]) for p in pictures] == [50, 200]
    assert server.requests[0] == ("/generate", {"prompt": "a cat", "seed": 0, "size": 8})
    assert server.requests[1][1]["instruction"] == "make it blue"
    with pytest.raises(InputError, match="only see images rendered"):
        synthetic_system(neurons.parse_neuron("red"), store).call_neuron(pictures)
