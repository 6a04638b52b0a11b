from core.training.config import TrainConfig
from core.training.defaults import choose


def cfg(**kw) -> TrainConfig:
    return TrainConfig(data="x.jsonl", **kw)


def test_few_dozen_examples_get_several_epochs_and_lora_on_all_linear_layers():
    c = choose(cfg(), 24, "llama", "text-generation")
    assert c.epochs == 8 and c.batch_size == 4
    assert c.max_steps == 6 * 8
    assert c.learning_rate == 3e-4 and c.lora_r == 16 and c.lora_alpha == 32
    assert set(c.lora_targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert c.eval_steps >= 1 and c.eval_steps <= c.max_steps / 4 and c.save_steps == c.eval_steps


def test_huge_datasets_are_capped_and_say_so():
    c = choose(cfg(), 100_000, "llama", "text-generation")
    assert c.epochs == 1 and c.max_steps == 3000 and c.capped
    assert c.max_steps / c.eval_steps <= 50


def test_user_values_win_and_unknown_architectures_use_all_linear():
    c = choose(cfg(epochs=2, learning_rate=1e-3, batch_size=2, lora={"r": 4}), 10, "mamba", "text-generation")
    assert (c.epochs, c.learning_rate, c.batch_size, c.lora_r, c.lora_alpha) == (2, 1e-3, 2, 4, 8)
    assert c.lora_targets == "all-linear" and c.max_steps == 10


def test_full_finetune_and_classifier_defaults():
    assert choose(cfg(method="full"), 50, "llama", "text-generation").learning_rate == 5e-5
    c = choose(cfg(), 1000, "bert", "classification")
    assert c.lora_r is None and c.batch_size == 16 and c.learning_rate == 1e-4
