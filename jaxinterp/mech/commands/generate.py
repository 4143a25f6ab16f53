"""`jaxinterp mech generate`: continue a prompt with a pretrained checkpoint (greedy or sampled, KV-cached).

Argument parsing only; the method is `jaxinterp.mech.generate`. The tokenizer is loaded before the model, so a
folder without one fails in a second. With `--chat` the prompt becomes one user message passed through the
tokenizer's chat template with the assistant's turn opened (`add_generation_prompt=True`). The continuation is
printed without special tokens, after generation ends (no streaming); `--timing` adds the time to the first
token and the decode speed on stderr.
"""

from __future__ import annotations

import sys

from jaxinterp.cli_options import add_seed


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="continue a prompt with a pretrained checkpoint (KV-cached decoding)")
    p.add_argument("--model", required=True, help="Hugging Face checkpoint folder (config, safetensors, tokenizer)")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--max-new-tokens", type=int, default=64, help="new tokens at most (default 64; EOS stops earlier)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); else sampling temperature")
    p.add_argument("--top-k", type=int, help="sample among the k most likely tokens only")
    p.add_argument("--top-p", type=float, help="nucleus sampling: keep the most likely tokens up to mass p")
    add_seed(p, 0, "sampling seed (default 0)")
    p.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template to the prompt")
    p.add_argument("--timing", action="store_true", help="print time to first token and tokens/s on stderr")
    p.set_defaults(func=_generate)


def prompt_ids(tokenizer, text: str, chat: bool) -> list[int]:
    """The token ids of `text`, through the chat template (user turn, assistant turn opened) with `chat`."""
    from jaxinterp.errors import InputError

    if not chat:
        return list(tokenizer(text)["input_ids"])
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("--chat: the model's tokenizer has no chat template")
    encoded = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def _generate(args) -> None:
    from jaxinterp.hf import load_tokenizer
    from jaxinterp.mech.generate import Generator, SamplingConfig, check_prompt_length, context_of
    from jaxinterp.mech.models.load import checkpoint_config

    config = SamplingConfig(args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.seed)
    tokenizer = load_tokenizer(args.model)
    ids = prompt_ids(tokenizer, args.prompt, args.chat)
    check_prompt_length(len(ids), context_of(checkpoint_config(args.model)))  # before the model is loaded
    generator = Generator.from_folder(args.model)
    if not generator.eos_ids and tokenizer.eos_token_id is not None:
        generator = Generator(generator.model, (tokenizer.eos_token_id,), generator.context)
    result = generator([ids], config)
    print(tokenizer.decode(list(result.tokens[0]), skip_special_tokens=True))
    if args.timing:
        n = len(result.tokens[0])
        rate = (n - 1) / (result.seconds - result.first_token_seconds) if n > 1 else float("nan")
        print(
            f"{n} tokens; first token after {result.first_token_seconds:.2f} s, then {rate:.1f} tokens/s "
            "(a first call includes compilation)",
            file=sys.stderr,
        )
