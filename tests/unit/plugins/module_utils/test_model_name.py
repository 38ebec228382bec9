# -*- coding: utf-8 -*-
"""Ollama's model-name grammar as a table."""

import pytest

from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (
    find_listed,
    is_valid_model_name,
    listed_shortest,
    parse_model_name,
    qualified_name,
    same_model,
    shortest_name,
)

# input, fully qualified form, shortest (/api/tags) form
VALID = [
    ("llama3.2", "registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
    ("llama3.2:3b", "registry.ollama.ai/library/llama3.2:3b", "llama3.2:3b"),
    ("library/llama3.2", "registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
    ("registry.ollama.ai/library/llama3.2:latest",
     "registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
    ("jdoe/mymodel:v1", "registry.ollama.ai/jdoe/mymodel:v1", "jdoe/mymodel:v1"),
    ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
     "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
     "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
    ("localhost:5000/team/model:v2", "localhost:5000/team/model:v2",
     "localhost:5000/team/model:v2"),
    ("localhost:5000/team/model", "localhost:5000/team/model:latest",
     "localhost:5000/team/model:latest"),
    ("example.com/library/m", "example.com/library/m:latest", "example.com/library/m:latest"),
    ("https://example.com/ns/m:t", "example.com/ns/m:t", "example.com/ns/m:t"),
    ("http://127.0.0.1:8080/ns/m", "127.0.0.1:8080/ns/m:latest", "127.0.0.1:8080/ns/m:latest"),
    ("_x/_y:_z", "registry.ollama.ai/_x/_y:_z", "_x/_y:_z"),
    ("qwen2.5-coder:7b-instruct-q4_K_M", "registry.ollama.ai/library/qwen2.5-coder:"
     "7b-instruct-q4_K_M", "qwen2.5-coder:7b-instruct-q4_K_M"),
    ("jdoe/agent/helper", "registry.ollama.ai/jdoe/agent/helper:latest",
     "jdoe/agent/helper:latest"),
    ("REGISTRY.OLLAMA.AI/Library/Llama3.2:Latest",
     "REGISTRY.OLLAMA.AI/Library/Llama3.2:Latest", "Llama3.2:Latest"),
    ("m" * 80, "registry.ollama.ai/library/" + "m" * 80 + ":latest", "m" * 80 + ":latest"),
    ("h" * 350 + "/n/m", "h" * 350 + "/n/m:latest", "h" * 350 + "/n/m:latest"),
]

# input, words the message must hold
INVALID = [
    ("", "empty"),
    ("llama3.2:", "tag after ':' is empty"),
    (":3b", "model is empty"),
    ("/llama3.2", "namespace before the model is empty"),
    ("a//m", "namespace before the model is empty"),
    ("hf.co/repo", "namespace 'hf.co' may not contain '.'"),
    ("llama3.2@sha256:" + "a" * 64, "digest pin"),
    ("-llama", "must start with a letter, a digit or '_'"),
    ("llama:.x", "tag '.x' must start"),
    ("lla ma", "contains ' '"),
    ("llama!", "contains '!'"),
    ("a:b:c", "model 'a:b' contains ':'"),
    ("h/n/m/x", "too many '/'-separated parts"),
    ("m" * 81, "81 characters long, at most 80"),
    ("m:" + "t" * 81, "at most 80"),
    ("ns" * 41 + "/m", "at most 80"),
    ("h" * 351 + "/n/m", "at most 350"),
    (" llama3.2", "spaces"),
    ("ns.x/m", "may not contain '.'"),
    ("h_o!st/n/m", "host 'h_o!st' contains '!'"),
]


@pytest.mark.parametrize("text,qualified,shortest", VALID)
def test_valid_names(text, qualified, shortest):
    assert qualified_name(text) == qualified
    assert shortest_name(text) == shortest
    assert is_valid_model_name(text)
    # the normal forms are fixed points and name the same model
    assert qualified_name(shortest).lower() == qualified.lower()
    assert same_model(text, qualified)
    assert same_model(shortest, text)


@pytest.mark.parametrize("text,words", INVALID)
def test_invalid_names(text, words):
    with pytest.raises(ValueError) as caught:
        parse_model_name(text)
    message = str(caught.value)
    assert words in message
    assert message.startswith("invalid model name")
    assert not is_valid_model_name(text)


@pytest.mark.parametrize("text", ["", "llama3.2:", "-x", "a.b/m", "x!"])
def test_rejections_say_what_to_write(text):
    with pytest.raises(ValueError) as caught:
        parse_model_name(text)
    assert "write" in str(caught.value) or "as in" in str(caught.value)


def test_the_four_spellings_of_one_model_are_equal():
    spellings = ["llama3.2", "llama3.2:latest", "library/llama3.2",
                 "registry.ollama.ai/library/llama3.2:latest", "LLAMA3.2:Latest"]
    for first in spellings:
        for second in spellings:
            assert same_model(first, second), (first, second)


@pytest.mark.parametrize("first,second", [
    ("llama3.2", "llama3.2:3b"),
    ("llama3.2", "jdoe/llama3.2"),
    ("llama3.2", "example.com/library/llama3.2"),
    ("jdoe/agent/helper", "jdoe/skill/helper"),
    ("llama3.2", "llama3.2:"),
])
def test_different_models_are_not_equal(first, second):
    assert not same_model(first, second)


def test_parts_and_port():
    name = parse_model_name("localhost:5000/team/model:v2")
    assert name.host == "localhost:5000"
    assert name.namespace == "team"
    assert name.model == "model"
    assert name.tag == "v2"
    assert name.kind == ""
    assert name.repository == "team/model"
    assert str(name) == "localhost:5000/team/model:v2"


def test_non_string_is_rejected():
    with pytest.raises(ValueError) as caught:
        parse_model_name(None)
    assert "is a string" in str(caught.value)


def test_find_listed_matches_either_field_in_any_case_and_skips_bad_names():
    models = [{"name": "not a name!"}, {"model": "TinyLlama:latest"}, {"name": "qwen3:8b"}]
    assert find_listed(models, parse_model_name("tinyllama")) == models[1]
    assert find_listed(models, parse_model_name("registry.ollama.ai/library/qwen3:8b")) \
        == models[2]
    assert find_listed(models, parse_model_name("mistral")) is None


def test_listed_shortest_names_the_model_as_the_server_does():
    asked = parse_model_name("TinyLlama")
    assert listed_shortest({"name": "registry.ollama.ai/library/tinyllama:latest"}, asked) \
        == "tinyllama:latest"
    assert listed_shortest(None, asked) == "TinyLlama:latest"
