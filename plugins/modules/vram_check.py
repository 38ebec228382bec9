#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vram_check
short_description: Estimate whether a model fits a host's GPU memory under Ollama
version_added: "0.1.0"
description:
  - Estimates the GPU memory a GGUF model needs under Ollama (weights, KV cache, compute
    graph, and what Ollama keeps in reserve on each GPU) and compares it with the GPU memory
    of the host.
  - Takes a model as O(parameters) and O(quantization) with its architecture figures, or as
    the O(model_info) and O(details) that Ollama's C(/api/show) returns.
  - With O(candidates), evaluates several models, best first, and picks the first that fits.
  - Changes nothing.
author:
  - localllm.workstation contributors
options:
  parameters:
    description:
      - Parameter count, such as C(8B), C(70b), C(1.1B), C(500M) or a plain number
        (C(8030000000)). Between one million and 10T.
      - Overrides what O(model_info) says.
    type: raw
  quantization:
    description:
      - Weight quantization in any case. One of C(F32), C(F16), C(BF16), C(Q8_0), C(Q6_K),
        C(Q5_1), C(Q5_K_M), C(Q5_K_S), C(Q5_0), C(Q4_1), C(Q4_K_M), C(Q4_0), C(IQ4_NL),
        C(Q4_K_S), C(IQ4_XS), C(MXFP4), C(Q3_K_L), C(Q3_K_M), C(IQ3_M), C(Q3_K_S),
        C(IQ3_S), C(IQ3_XS), C(IQ3_XXS), C(Q2_K), C(IQ2_M), C(IQ2_S), C(IQ2_XS),
        C(IQ2_XXS), C(IQ1_M), C(IQ1_S).
      - Also accepted are C(FP32), C(FP16), C(INT8) (C(Q8_0)), C(INT6) (C(Q6_K)),
        C(INT5) and C(Q5_K) (C(Q5_K_M)), C(INT4) and C(Q4_K) (C(Q4_K_M)), C(INT3) and
        C(Q3_K) (C(Q3_K_M)), C(INT2) (C(Q2_K)).
      - Overrides C(quantization_level) in O(details).
    type: str
  layers:
    description: Number of transformer blocks (C(<arch>.block_count)).
    type: int
  kv_heads:
    description:
      - Number of key/value heads (C(<arch>.attention.head_count_kv)). Defaults to O(heads),
        as in models without grouped-query attention.
    type: int
  head_dim:
    description:
      - Size of one attention head (C(<arch>.attention.key_length)). Defaults to
        O(embedding_length) divided by O(heads).
    type: int
  embedding_length:
    description: Embedding size (C(<arch>.embedding_length)); used to derive O(head_dim).
    type: int
  heads:
    description: Number of attention heads (C(<arch>.attention.head_count)).
    type: int
  vocab_size:
    description: Vocabulary size; with O(embedding_length) it sizes the compute graph.
    type: int
  model_info:
    description:
      - The C(model_info) dictionary of Ollama's C(/api/show) answer, with keys such as
        C(general.architecture), C(general.parameter_count), C(llama.block_count),
        C(llama.attention.head_count_kv), C(llama.attention.head_count),
        C(llama.embedding_length) and C(llama.attention.key_length).
      - The whole C(/api/show) answer is accepted too; its C(details) is then used.
    type: dict
  details:
    description:
      - The C(details) dictionary of C(/api/show) or C(/api/tags), for
        C(quantization_level) and C(parameter_size).
    type: dict
  candidates:
    description:
      - Models to choose from, best first. Each is a dictionary with C(name) and the model
        options of this module (O(parameters), O(quantization), O(layers), O(kv_heads),
        O(head_dim), O(embedding_length), O(heads), O(vocab_size), O(model_info),
        O(details)), and optionally its own O(context_length), O(kv_cache_type) and
        O(num_parallel).
      - Cannot be combined with the model options at the top level.
    type: list
    elements: dict
  context_length:
    description: Context length Ollama will run the model with (C(num_ctx)).
    type: int
    default: 4096
  kv_cache_type:
    description:
      - C(OLLAMA_KV_CACHE_TYPE), one of C(f16), C(q8_0), C(q4_0), in any case (C(Q8_0) is
        C(q8_0)). Quantized types need flash attention.
    type: str
    default: f16
  num_parallel:
    description: C(OLLAMA_NUM_PARALLEL); each parallel slot has its own KV cache.
    type: int
    default: 1
  vram_bytes:
    description:
      - GPU memory of one GPU, in bytes. C(0) means no GPU.
      - Give this or O(gpus).
    type: int
  gpus:
    description:
      - The RV(localllm.workstation.gpu_info#module:gpus) list. NVIDIA, AMD and Apple GPUs
        with a known memory size count; Intel and unknown GPUs are left out, as Ollama does
        not compute on them by default. C(vendor) is compared in any case.
      - C(memory_total_bytes) and C(memory_free_bytes) must be whole numbers of bytes, 0 or
        more, or null when unknown; anything else (C(8GiB), a negative number) is refused.
    type: list
    elements: dict
  use_free_memory:
    description:
      - With O(gpus), count each GPU's free memory instead of its total. A GPU that does not
        report free memory counts with its total.
      - Free memory reported above the total counts as the total, with a warning.
    type: bool
    default: false
  gpu_overhead_bytes:
    description: C(OLLAMA_GPU_OVERHEAD), kept free on each GPU in addition to the reserve.
    type: int
    default: 0
  reserve_bytes:
    description:
      - Memory Ollama keeps free on each GPU. Defaults to 457 MiB per CUDA or ROCm GPU and
        512 MiB on Metal.
    type: int
  graph_bytes:
    description:
      - Compute graph allowance, replacing the estimate described in the notes.
    type: int
  policy:
    description:
      - What to do when the model (or no candidate) fits fully.
      - C(fail) fails with the figures and the changes that would make it fit; C(warn)
        warns and goes on; C(skip) only reports.
    type: str
    choices: [fail, warn, skip]
    default: warn
    aliases: [on_mismatch]
attributes:
  check_mode:
    description: Can run in check mode and return the same results.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff to show.
    support: none
notes:
  - "Method: weights are the parameter count times the bytes per parameter of the
    quantization (measured llama.cpp files where known, ggml block sizes otherwise) plus
    32 MiB per file for metadata and the tokenizer, calibrated so that published Q4_K_M
    files of Llama 3.1 8B, Llama 3.2 3B and Qwen2.5-Coder 32B come out within 2 %."
  - "KV cache = 2 x layers x KV heads x head size x context x bytes per element (f16 2,
    q8_0 1.0625, q4_0 0.5625) x parallel slots."
  - "Compute graph: f32 logits and activations for a 512-token batch,
    4 x 512 x (vocabulary + 4 x embedding) bytes, or a flat 256 MiB without those figures.
    It is counted once, not per GPU."
  - "Ollama keeps about 457 MiB free per CUDA or ROCm GPU and 512 MiB on Metal, plus
    C(OLLAMA_GPU_OVERHEAD) per GPU. A model that does not fit runs partly on the CPU
    (verdict C(partial), with the share of whole layers that fit) and can be up to 100
    times slower."
  - "Limits: the figures are estimates, typically within 10 % of what Ollama loads. Not
    modelled: sliding-window and hybrid attention (Gemma, Mistral's SWA, recurrent layers)
    whose KV cache is smaller than counted; vision projectors; mixture-of-experts
    offloading; the layout of layers across several GPUs; flash attention's smaller
    graph. A per-layer C(head_count_kv) list (as in C(model_info) of some models) counts
    with its largest value; an empty list or one holding anything but whole numbers is
    refused."
  - "Quality: quantizations below 4 bits (C(Q3_*), C(Q2_K), C(IQ3_*), C(IQ2_*),
    C(IQ1_*)) are flagged C(low_quality) and warned about; the guide calls anything below
    INT4 not usable."
'''

EXAMPLES = r'''
- name: Check that Llama 3.1 8B Q4_K_M fits with a 32k context
  localllm.workstation.vram_check:
    parameters: 8B
    quantization: Q4_K_M
    layers: 32
    kv_heads: 8
    head_dim: 128
    context_length: 32768
    vram_bytes: 8589934592
    policy: fail

- name: Find the GPUs of the host
  localllm.workstation.gpu_info:
  register: gpu_info

- name: Choose the best model the host can hold fully on its GPUs
  localllm.workstation.vram_check:
    gpus: "{{ gpu_info.gpus }}"
    context_length: 8192
    candidates:
      - name: qwen2.5-coder:32b
        parameters: 32.76B
        quantization: Q4_K_M
        layers: 64
        kv_heads: 8
        head_dim: 128
      - name: llama3.1:8b
        parameters: 8.03B
        quantization: Q4_K_M
        layers: 32
        kv_heads: 8
        head_dim: 128
      - name: llama3.2:3b
        parameters: 3.21B
        quantization: Q4_K_M
        layers: 28
        kv_heads: 8
        head_dim: 128
    policy: warn
  register: vram

- name: Pull the chosen model
  ansible.builtin.debug:
    msg: "{{ vram.chosen }}: {{ vram.reason }}"

- name: Check a model that is already pulled, from what /api/show returned
  localllm.workstation.vram_check:
    model_info: "{{ show.json.model_info }}"
    details: "{{ show.json.details }}"
    gpus: "{{ gpu_info.gpus }}"
    use_free_memory: true
    kv_cache_type: q8_0
'''

RETURN = r'''
verdict:
  description:
    - C(fits) when the model fits fully on the GPUs; C(partial) when only a share does and
      the rest runs on the CPU; C(cpu) without GPU memory or when not one layer fits.
    - With O(candidates), the verdict of the chosen one.
  returned: always
  type: str
  sample: fits
gpu_share:
  description: Share of the model (whole layers when the layer count is known) on the GPUs.
  returned: always
  type: float
  sample: 1.0
required_bytes:
  description: Weights, KV cache, graph, reserve and overhead together.
  returned: always
  type: int
  sample: 6228473856
available_bytes:
  description: GPU memory counted (total, or free with O(use_free_memory)).
  returned: always
  type: int
  sample: 8589934592
headroom_bytes:
  description: RV(available_bytes) minus RV(required_bytes); negative when short.
  returned: always
  type: int
  sample: 2361460736
weights_bytes:
  description: Estimated size of the weights.
  returned: always
  type: int
  sample: 4931786752
kv_cache_bytes:
  description: Estimated size of the KV cache for all parallel slots.
  returned: always
  type: int
  sample: 536870912
graph_bytes:
  description: Compute graph allowance.
  returned: always
  type: int
  sample: 268435456
reserve_bytes:
  description: Memory Ollama keeps free, summed over the GPUs counted.
  returned: always
  type: int
  sample: 479199232
overhead_bytes:
  description: O(gpu_overhead_bytes) summed over the GPUs counted.
  returned: always
  type: int
  sample: 0
parameters:
  description: Parameter count used.
  returned: always
  type: int
  sample: 8030000000
quantization:
  description: Canonical quantization name used.
  returned: always
  type: str
  sample: Q4_K_M
context_length:
  description: Context length used.
  returned: always
  type: int
  sample: 4096
low_quality:
  description: True below 4-bit quantization.
  returned: always
  type: bool
  sample: false
summary:
  description: The estimate in one sentence.
  returned: always
  type: str
  sample: "llama3.1:8b (8.03B parameters, Q4_K_M, context 4096, KV cache f16 x1) needs ..."
suggestions:
  description: Changes that each alone would make the model fit; empty when it fits.
  returned: always
  type: list
  elements: str
  sample:
    - quantization Q4_K_S
    - context_length 8192
    - kv_cache_type q8_0 (with OLLAMA_FLASH_ATTENTION=1)
chosen:
  description:
    - Name of the chosen candidate; the first that fits fully, or when none does (and
      O(policy) is not C(fail)) the one with the largest GPU share, then the smallest.
  returned: when O(candidates) is given
  type: str
  sample: llama3.1:8b
chosen_index:
  description: Position of the chosen candidate in O(candidates), from 0.
  returned: when O(candidates) is given
  type: int
  sample: 1
reason:
  description: Why that candidate was chosen.
  returned: when O(candidates) is given
  type: str
  sample: "llama3.1:8b is the first candidate that fits fully (1.9 GiB to spare)"
evaluations:
  description: One entry per candidate, in the order given.
  returned: when O(candidates) is given
  type: list
  elements: dict
  contains:
    name:
      description: The candidate's name.
      type: str
    verdict:
      description: C(fits), C(partial) or C(cpu).
      type: str
    gpu_share:
      description: Share on the GPUs.
      type: float
    required_bytes:
      description: Memory it needs.
      type: int
    headroom_bytes:
      description: Memory left, negative when short.
      type: int
    low_quality:
      description: True below 4-bit quantization.
      type: bool
    reason:
      description: The candidate's RV(summary).
      type: str
'''

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.localllm.workstation.plugins.module_utils import sizing

MODEL_KEYS = ('parameters', 'quantization', 'layers', 'kv_heads', 'head_dim',
              'embedding_length', 'heads', 'vocab_size', 'model_info', 'details')
RUN_KEYS = ('context_length', 'kv_cache_type', 'num_parallel')
COMPUTE_VENDORS = ('nvidia', 'amd', 'apple')


class InputError(Exception):
    """Bad or missing input; the message says which option and what to write."""


def _positive_int(value, option, upper):
    if isinstance(value, bool):
        raise InputError('%s must be a whole number, not %r' % (option, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError('%s must be a whole number, not %r' % (option, value))
    if number != value and not isinstance(value, str):
        raise InputError('%s must be a whole number, not %r' % (option, value))
    if number < 1:
        raise InputError('%s must be at least 1, not %s' % (option, number))
    if number > upper:
        raise InputError('%s %s is above %s; check the value' % (option, number, upper))
    return number


def _info_value(info, arch, key, where, option=None):
    """A model_info figure; a per-layer list gives its largest value.

    An empty list, or one holding anything but whole numbers, is refused rather than taken
    as missing (which would fall back to another figure).
    """
    name = '%s.%s' % (arch, key)
    value = info.get(name) if arch else None
    if not isinstance(value, list):
        return value
    instead = ('give %s instead, or ' % option) if option else ''
    if not value:
        raise InputError('%smodel_info %s is an empty list; %sgive model_info a whole '
                         'number or one whole number per layer' % (where, name, instead))
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + '...'
        raise InputError('%smodel_info %s is %s, but a per-layer list must hold whole '
                         'numbers only (such as [8, 8, 4]); %sfix model_info'
                         % (where, name, shown, instead))
    return max(value)


def _byte_count(value, option):
    """None, or a whole number of bytes (int, whole float or digits); InputError otherwise."""
    if value is None:
        return None
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.match(r'^\s*-?[0-9]+\s*$', value):
        number = int(value)
    if number is None:
        raise InputError('%s must be a whole number of bytes (for example 8589934592 for '
                         '8 GiB) or null when unknown, not %r' % (option, value))
    if number < 0:
        raise InputError('%s must be 0 or more (null when unknown), not %d' % (option, number))
    return number


def model_spec(source, run, where):
    """Build a sizing spec from a dict of model options plus run settings.

    ``where`` prefixes messages ('' at the top level, 'candidates[1] (name): ').
    """
    info = source.get('model_info') or {}
    details = source.get('details') or {}
    for option, value in (('model_info', info), ('details', details)):
        if not isinstance(value, dict):
            raise InputError('%s%s must be a dictionary as /api/show returns it, not %r'
                             % (where, option, value))
    if 'model_info' in info and isinstance(info['model_info'], dict):
        if not details:
            details = info.get('details') or {}
            if not isinstance(details, dict):
                raise InputError('%smodel_info.details must be a dictionary as /api/show '
                                 'returns it (with quantization_level and parameter_size), '
                                 'not %r' % (where, details))
        info = info['model_info']
    arch = info.get('general.architecture')

    def pick(option, info_key):
        if source.get(option) is not None:
            return source[option], option
        value = _info_value(info, arch, info_key, where, option)
        return value, 'model_info %s.%s' % (arch, info_key)

    parameters = source.get('parameters')
    if parameters is None:
        parameters = info.get('general.parameter_count') or details.get('parameter_size')
    if parameters is None:
        raise InputError('%sparameters is missing: give parameters (for example 8B) or the '
                         'model_info of /api/show' % where)
    try:
        parameters = sizing.parse_parameters(parameters)
    except ValueError as error:
        raise InputError(where + str(error))

    quantization = source.get('quantization') or details.get('quantization_level')
    if not quantization:
        raise InputError('%squantization is missing: give quantization (for example '
                         'Q4_K_M) or the details of /api/show; valid: %s'
                         % (where, ', '.join(sizing.quantization_names())))
    try:
        quantization = sizing.normalize_quantization(quantization)
    except ValueError as error:
        raise InputError(where + 'quantization: ' + str(error))

    figures = {}
    for option, info_key, upper in (('layers', 'block_count', 1000),
                                    ('heads', 'attention.head_count', 4096),
                                    ('kv_heads', 'attention.head_count_kv', 4096),
                                    ('head_dim', 'attention.key_length', 65536),
                                    ('embedding_length', 'embedding_length', 1048576),
                                    ('vocab_size', 'vocab_size', 10 ** 7)):
        value, label = pick(option, info_key)
        figures[option] = None if value is None else _positive_int(value, where + label, upper)
    value_dim = None
    if source.get('head_dim') is None:
        value_dim = _info_value(info, arch, 'attention.value_length', where, 'head_dim')
        if value_dim:
            value_dim = _positive_int(value_dim, where + 'model_info value_length', 65536)
    if figures['kv_heads'] is None:
        figures['kv_heads'] = figures['heads']
    if figures['head_dim'] is None and figures['embedding_length'] and figures['heads']:
        figures['head_dim'] = figures['embedding_length'] // figures['heads']
    missing = []
    if not figures['layers']:
        missing.append('layers (block count, e.g. 32)')
    if not figures['kv_heads']:
        missing.append('kv_heads (key/value heads, e.g. 8) or heads')
    if not figures['head_dim']:
        missing.append('head_dim (e.g. 128) or embedding_length and heads')
    if missing:
        raise InputError('%sthe KV cache cannot be sized without %s; give them as options '
                         'or pass the model_info of /api/show' % (where, ', '.join(missing)))

    context = _positive_int(run['context_length'], where + 'context_length',
                            sizing.MAX_CONTEXT)
    parallel = _positive_int(run['num_parallel'], where + 'num_parallel', sizing.MAX_PARALLEL)
    try:
        kv_type = sizing.normalize_kv_cache_type(run['kv_cache_type'])
    except ValueError as error:
        raise InputError(where + str(error))
    trained = _info_value(info, arch, 'context_length', where)
    return {
        'parameters': parameters,
        'quantization': quantization,
        'layers': figures['layers'],
        'kv_heads': figures['kv_heads'],
        'head_dim': figures['head_dim'],
        'value_dim': value_dim,
        'embedding_length': figures['embedding_length'],
        'vocab_size': figures['vocab_size'],
        'context_length': context,
        'kv_cache_type': kv_type,
        'num_parallel': parallel,
        'trained_context': trained if isinstance(trained, int) else None,
    }


def gpu_memory(params, warnings=None):
    """Turn vram_bytes or gpus into the list sizing.fit() takes.

    Sentences about figures that were adjusted are appended to ``warnings``.
    """
    if warnings is None:
        warnings = []
    reserve = params['reserve_bytes']
    if params['vram_bytes'] is not None:
        if params['vram_bytes'] < 0:
            raise InputError('vram_bytes must be 0 (no GPU) or more, not %d'
                             % params['vram_bytes'])
        if params['vram_bytes'] == 0:
            return []
        return [{'memory_bytes': params['vram_bytes'],
                 'reserve_bytes': sizing.RESERVE_CUDA_ROCM if reserve is None else reserve}]
    result = []
    for position, gpu in enumerate(params['gpus']):
        if not isinstance(gpu, dict):
            raise InputError('gpus[%d] must be a dictionary as gpu_info returns it' % position)
        vendor = gpu.get('vendor')
        if vendor is not None and not isinstance(vendor, str):
            raise InputError('gpus[%d].vendor must be a string such as nvidia, amd, apple, '
                             'intel or unknown, not %r' % (position, vendor))
        vendor = (vendor or '').strip().lower()
        if vendor not in COMPUTE_VENDORS:
            continue
        memory = _byte_count(gpu.get('memory_total_bytes'),
                             'gpus[%d].memory_total_bytes' % position)
        if params['use_free_memory']:
            free = _byte_count(gpu.get('memory_free_bytes'),
                               'gpus[%d].memory_free_bytes' % position)
            if free is not None and memory is not None and free > memory:
                warnings.append('gpus[%d]: memory_free_bytes %d is above memory_total_bytes '
                                '%d, which cannot be; counting the total'
                                % (position, free, memory))
                free = memory
            if free is not None:
                memory = free
        if memory is None:
            continue
        if reserve is not None:
            gpu_reserve = reserve
        elif vendor == 'apple':
            gpu_reserve = sizing.RESERVE_METAL
        else:
            gpu_reserve = sizing.RESERVE_CUDA_ROCM
        result.append({'memory_bytes': int(memory), 'reserve_bytes': gpu_reserve})
    return result


def evaluate(name, spec, gpus, params):
    overrides = {} if params['graph_bytes'] is None else {'graph_bytes': params['graph_bytes']}
    parts = sizing.estimate(dict(spec, **overrides))
    result = sizing.fit(parts, gpus, params['gpu_overhead_bytes'], spec['layers'])
    result.update(parts)
    result.update({
        'parameters': spec['parameters'],
        'quantization': spec['quantization'],
        'context_length': spec['context_length'],
        'low_quality': sizing.is_low_quality(spec['quantization']),
        'summary': sizing.summary(name, spec, parts, result),
        'suggestions': [],
    })
    if result['verdict'] != 'fits':
        result['suggestions'] = sizing.suggestions(dict(spec, **overrides), gpus,
                                                   params['gpu_overhead_bytes'])
    return result


def mismatch_message(result):
    advice = result['suggestions'] or ['a GPU with at least %s of memory'
                                       % sizing.human(result['required_bytes'])]
    return '%s. To make it fit, change one of: %s' % (result['summary'], '; '.join(advice))


def run_settings(source, params):
    return dict((key, source[key] if source.get(key) is not None else params[key])
                for key in RUN_KEYS)


def check_single(module, gpus):
    params = module.params
    spec = model_spec(params, run_settings({}, params), '')
    result = evaluate(None, spec, gpus, params)
    caveats(module, spec, result, '')
    if result['verdict'] != 'fits':
        if params['policy'] == 'fail':
            module.fail_json(msg=mismatch_message(result), **result)
        if params['policy'] == 'warn':
            module.warn(mismatch_message(result))
    return result


def check_candidates(module, gpus):
    params = module.params
    evaluations, results = [], []
    for position, candidate in enumerate(params['candidates']):
        if not isinstance(candidate, dict) or not candidate.get('name'):
            raise InputError('candidates[%d] needs a name and the model options (parameters, '
                             'quantization, layers, kv_heads, head_dim, or model_info)'
                             % position)
        if not isinstance(candidate['name'], str):
            raise InputError('candidates[%d]: name must be a model name such as llama3.1:8b, '
                             'not %r' % (position, candidate['name']))
        unknown = sorted(set(candidate) - set(MODEL_KEYS) - set(RUN_KEYS) - set(['name']))
        if unknown:
            raise InputError('candidates[%d] (%s): unknown key %s; valid keys: name, %s'
                             % (position, candidate['name'], ', '.join(unknown),
                                ', '.join(MODEL_KEYS + RUN_KEYS)))
        where = 'candidates[%d] (%s): ' % (position, candidate['name'])
        spec = model_spec(candidate, run_settings(candidate, params), where)
        result = evaluate(candidate['name'], spec, gpus, params)
        results.append((spec, result))
        evaluations.append({
            'name': candidate['name'],
            'verdict': result['verdict'],
            'gpu_share': result['gpu_share'],
            'required_bytes': result['required_bytes'],
            'headroom_bytes': result['headroom_bytes'],
            'low_quality': result['low_quality'],
            'reason': result['summary'],
        })
    if not results:
        raise InputError('candidates is empty; list at least one model')
    fitting = [index for index, (spec, result) in enumerate(results)
               if result['verdict'] == 'fits']
    if fitting:
        chosen = fitting[0]
        reason = '%s is the first candidate that fits fully (%s to spare)' % (
            evaluations[chosen]['name'], sizing.human(results[chosen][1]['headroom_bytes']))
    else:
        chosen = sorted(range(len(results)),
                        key=lambda i: (-results[i][1]['gpu_share'],
                                       results[i][1]['required_bytes']))[0]
        result = results[chosen][1]
        reason = ('no candidate fits fully; %s has the largest share on the GPU (%d%%) and '
                  'needs %s of %s' % (evaluations[chosen]['name'],
                                      int(result['gpu_share'] * 100),
                                      sizing.human(result['required_bytes']),
                                      sizing.human(result['available_bytes'])))
        if params['policy'] == 'fail':
            module.fail_json(msg='%s. %s' % (reason, mismatch_message(result)),
                             evaluations=evaluations, **result)
        if params['policy'] == 'warn':
            module.warn(reason + '; it will run partly or fully on the CPU. '
                        + mismatch_message(result))
    spec, result = results[chosen]
    caveats(module, spec, result, evaluations[chosen]['name'] + ': ')
    result.update(chosen=evaluations[chosen]['name'], chosen_index=chosen, reason=reason,
                  evaluations=evaluations)
    return result


def caveats(module, spec, result, where):
    if result['low_quality']:
        module.warn('%s%s is below 4-bit quantization, which the guide calls not usable; '
                    'prefer Q4_K_M or better' % (where, spec['quantization']))
    if spec['trained_context'] and spec['context_length'] > spec['trained_context']:
        module.warn('%scontext_length %d is above the %d tokens the model was trained for'
                    % (where, spec['context_length'], spec['trained_context']))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            parameters=dict(type='raw'),
            quantization=dict(type='str'),
            layers=dict(type='int'),
            kv_heads=dict(type='int'),
            head_dim=dict(type='int'),
            embedding_length=dict(type='int'),
            heads=dict(type='int'),
            vocab_size=dict(type='int'),
            model_info=dict(type='dict'),
            details=dict(type='dict'),
            candidates=dict(type='list', elements='dict'),
            context_length=dict(type='int', default=4096),
            # Checked in any case by sizing.normalize_kv_cache_type, not by choices.
            kv_cache_type=dict(type='str', default='f16'),
            num_parallel=dict(type='int', default=1),
            vram_bytes=dict(type='int'),
            gpus=dict(type='list', elements='dict'),
            use_free_memory=dict(type='bool', default=False),
            gpu_overhead_bytes=dict(type='int', default=0),
            reserve_bytes=dict(type='int'),
            graph_bytes=dict(type='int'),
            policy=dict(type='str', choices=['fail', 'warn', 'skip'], default='warn',
                        aliases=['on_mismatch']),
        ),
        mutually_exclusive=[
            ('vram_bytes', 'gpus'),
            ('candidates', 'parameters'), ('candidates', 'quantization'),
            ('candidates', 'model_info'), ('candidates', 'details'),
            ('candidates', 'layers'), ('candidates', 'kv_heads'), ('candidates', 'head_dim'),
            ('candidates', 'embedding_length'), ('candidates', 'heads'),
            ('candidates', 'vocab_size'),
        ],
        required_one_of=[('vram_bytes', 'gpus')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        for option in ('gpu_overhead_bytes', 'reserve_bytes', 'graph_bytes'):
            if params[option] is not None and params[option] < 0:
                raise InputError('%s must be 0 or more, not %d' % (option, params[option]))
        adjusted = []
        gpus = gpu_memory(params, adjusted)
        for text in adjusted:
            module.warn(text)
        if params['candidates'] is not None:
            result = check_candidates(module, gpus)
        else:
            result = check_single(module, gpus)
    except InputError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
