/**
 * Chat templates render exactly the text the model was trained on. The templates are
 * the real `chat_template` strings of the models' tokenizer_config.json files
 * (Meta-Llama-3-8B-Instruct, Llama-3.2-1B-Instruct, Qwen2.5-0.5B-Instruct,
 * Llama-2-7b-chat-hf) and the built-in ChatML; each expected string below is written
 * out by hand from the template's rules (and was checked once against Python's
 * jinja2 3.1.6 with trim_blocks + lstrip_blocks, which is how transformers renders).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  applyChatTemplate,
  CHATML_TEMPLATE,
  type ChatMessage,
  ChatTemplateError,
  chatStopIds,
} from "../src/tokenizer/chat.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

// ---------------------------------------------------------------------------
// The templates, verbatim (JSON-decoded) from the models' tokenizer_config.json.

/** meta-llama/Meta-Llama-3-8B-Instruct */
const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
/** meta-llama/Llama-2-7b-chat-hf */
const LLAMA2_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
/** Qwen/Qwen2.5-0.5B-Instruct (tool branches included; not exercised) */
const QWEN25_TEMPLATE =
  "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";
/** meta-llama/Llama-3.2-1B-Instruct: `is defined`, list slicing, `| trim`, strftime_now. */
const LLAMA32_TEMPLATE = String.raw`{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
`;

// ---------------------------------------------------------------------------
// One conversation; the user turn ends in "\n" so templates that trim show it.

const SYSTEM: ChatMessage = { role: "system", content: "You are a careful math tutor." };
const USER: ChatMessage = { role: "user", content: "What is 7 * 6?\n" };
const ASSISTANT: ChatMessage = { role: "assistant", content: "7 * 6 = 42.\n#### 42" };
const CONVERSATION = [SYSTEM, USER, ASSISTANT];

const LLAMA3_TOKENS = { bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>" };

describe("real chat templates render their reference text", () => {
  test("ChatML (built-in): every message verbatim between <|im_start|>role\\n and <|im_end|>\\n", () => {
    const full =
      "<|im_start|>system\nYou are a careful math tutor.<|im_end|>\n" +
      "<|im_start|>user\nWhat is 7 * 6?\n<|im_end|>\n" +
      "<|im_start|>assistant\n7 * 6 = 42.\n#### 42<|im_end|>\n";
    assert.equal(applyChatTemplate({ template: CHATML_TEMPLATE }, CONVERSATION), full);
    assert.equal(
      applyChatTemplate({ template: CHATML_TEMPLATE }, CONVERSATION, { addGenerationPrompt: true }),
      `${full}<|im_start|>assistant\n`,
    );
  });

  test("Llama 3: BOS once, headers, contents trimmed, <|eot_id|> after each turn", () => {
    const full =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a careful math tutor.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is 7 * 6?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n7 * 6 = 42.\n#### 42<|eot_id|>";
    const spec = { template: LLAMA3_TEMPLATE, ...LLAMA3_TOKENS };
    assert.equal(applyChatTemplate(spec, CONVERSATION), full);
    assert.equal(
      applyChatTemplate(spec, CONVERSATION, { addGenerationPrompt: true }),
      `${full}<|start_header_id|>assistant<|end_header_id|>\n\n`,
    );
    assert.equal(
      applyChatTemplate(spec, [SYSTEM, USER], { addGenerationPrompt: true }),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a careful math tutor.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 7 * 6?<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  test("Llama 3.2: the system turn carries the knowledge cut-off and the date passed as a variable", () => {
    const full =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
      "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a careful math tutor.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is 7 * 6?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n7 * 6 = 42.\n#### 42<|eot_id|>";
    const spec = { template: LLAMA32_TEMPLATE, ...LLAMA3_TOKENS };
    const variables = { date_string: "26 Jul 2024" };
    assert.equal(applyChatTemplate(spec, CONVERSATION, { variables }), full);
    assert.equal(
      applyChatTemplate(spec, CONVERSATION, { variables, addGenerationPrompt: true }),
      `${full}<|start_header_id|>assistant<|end_header_id|>\n\n`,
    );
    // Without a system message the system turn is still written, with an empty message.
    assert.equal(
      applyChatTemplate(spec, [{ role: "user", content: "Hi" }], { variables, addGenerationPrompt: true }),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  test("Qwen2.5: ChatML with contents verbatim, and its default system prompt when none is given", () => {
    const full =
      "<|im_start|>system\nYou are a careful math tutor.<|im_end|>\n" +
      "<|im_start|>user\nWhat is 7 * 6?\n<|im_end|>\n" +
      "<|im_start|>assistant\n7 * 6 = 42.\n#### 42<|im_end|>\n";
    const spec = { template: QWEN25_TEMPLATE, eosToken: "<|im_end|>" };
    assert.equal(applyChatTemplate(spec, CONVERSATION), full);
    assert.equal(
      applyChatTemplate(spec, CONVERSATION, { addGenerationPrompt: true }),
      `${full}<|im_start|>assistant\n`,
    );
    assert.equal(
      applyChatTemplate(spec, [USER], { addGenerationPrompt: true }),
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nWhat is 7 * 6?\n<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  test("Llama 2: <<SYS>> folded into the first [INST], stripped contents, and no generation prompt exists", () => {
    const full =
      "<s>[INST] <<SYS>>\nYou are a careful math tutor.\n<</SYS>>\n\nWhat is 7 * 6? [/INST] 7 * 6 = 42.\n#### 42 </s>";
    const spec = { template: LLAMA2_TEMPLATE, bosToken: "<s>", eosToken: "</s>" };
    assert.equal(applyChatTemplate(spec, CONVERSATION), full);
    assert.equal(applyChatTemplate(spec, CONVERSATION, { addGenerationPrompt: true }), full);
  });
});

describe("validation and errors", () => {
  test("bad roles, contents and empty conversations are rejected before rendering, naming the message", () => {
    const spec = { template: CHATML_TEMPLATE };
    const bad = (messages: unknown) => () => applyChatTemplate(spec, messages as ChatMessage[]);
    assert.throws(
      bad([USER, { role: "tool", content: "x" }]),
      (e: Error) =>
        e instanceof ChatTemplateError &&
        e.message === 'applyChatTemplate: messages[1].role must be one of "system", "user", "assistant", got "tool"',
    );
    assert.throws(bad([{ role: "User", content: "x" }]), /messages\[0\]\.role must be one of .* got "User"/);
    assert.throws(bad([{ content: "x" }]), /messages\[0\]\.role must be one of .* got nothing \(field missing\)/);
    assert.throws(bad([{ role: "user", content: ["x"] }]), /messages\[0\]\.content must be a string, got \["x"\]/);
    assert.throws(bad([]), /messages is empty/);
    assert.throws(bad("hello"), /messages must be an array, got "hello"/);
  });

  test("a template's raise_exception and parse errors become ChatTemplateErrors", () => {
    assert.throws(
      () => applyChatTemplate({ template: LLAMA2_TEMPLATE, bosToken: "<s>", eosToken: "</s>" }, [USER, USER]),
      (e: Error) =>
        e instanceof ChatTemplateError &&
        /rendering failed: Conversation roles must alternate user\/assistant/.test(e.message),
    );
    assert.throws(
      () => applyChatTemplate({ template: "{% for %}" }, [USER]),
      /chat template: cannot parse the template/,
    );
    assert.throws(
      () => applyChatTemplate({ template: CHATML_TEMPLATE }, [USER], { tokenize: true }),
      /tokenize: true needs a Tokenizer/,
    );
  });
});

// ---------------------------------------------------------------------------
// With tokenizers.

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const CORPUS = [
  "What is 7 * 6? 7 * 6 = 42.",
  "You are a careful math tutor. The answer is 42.",
  "Maya packs 36 pencils into boxes of 4 and sells each box for $3.",
];

describe("chat templates with a tokenizer", () => {
  test("a tokenizer without a template uses ChatML; tokenize gives special tokens as single ids", async () => {
    const dir = await mkdtemp(join(tmpdir(), "stepwise-chat-"));
    dirs.push(dir);
    await saveTokenizer(dir, trainBpe(CORPUS, { vocabSize: 300, minFrequency: 1 }), { chatTemplate: null });
    const tok = await Tokenizer.fromDir(dir);
    assert.equal(tok.chatTemplates.size, 0);
    const text = applyChatTemplate(tok, [SYSTEM, USER], { addGenerationPrompt: true });
    assert.equal(
      text,
      "<|im_start|>system\nYou are a careful math tutor.<|im_end|>\n<|im_start|>user\nWhat is 7 * 6?\n<|im_end|>\n<|im_start|>assistant\n",
    );
    const ids = applyChatTemplate(tok, [SYSTEM, USER], { addGenerationPrompt: true, tokenize: true });
    const start = tok.tokenToId("<|im_start|>")!;
    const end = tok.tokenToId("<|im_end|>")!;
    assert.equal(ids[0], start);
    assert.equal(ids.filter((id) => id === start).length, 3);
    assert.equal(ids.filter((id) => id === end).length, 2);
    assert.equal(tok.decode(ids), text);
    assert.deepEqual(chatStopIds(tok), [tok.tokenToId("<|endoftext|>"), end]);
  });

  test("Llama 3 style: tokenize does not add a second BOS; named templates are selectable", () => {
    const specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
    const json = trainBpe(CORPUS, { vocabSize: 300, minFrequency: 1, specialTokens: specials });
    json.post_processor = {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [0], tokens: ["<|begin_of_text|>"] } },
    };
    const tok = new Tokenizer(json, {
      bos_token: "<|begin_of_text|>",
      eos_token: "<|eot_id|>",
      chat_template: [
        { name: "default", template: LLAMA3_TEMPLATE },
        { name: "chatml", template: CHATML_TEMPLATE },
      ],
    });
    const text = applyChatTemplate(tok, [USER], { addGenerationPrompt: true });
    assert.equal(
      text,
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 7 * 6?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    const ids = applyChatTemplate(tok, [USER], { addGenerationPrompt: true, tokenize: true });
    assert.deepEqual(ids, tok.encode(text, { addSpecialTokens: false }));
    assert.deepEqual(ids.slice(0, 2), [0, 2]); // <|begin_of_text|> <|start_header_id|>
    assert.equal(ids.filter((id) => id === 0).length, 1);
    assert.equal(tok.encode(text).filter((id) => id === 0).length, 2); // what encode() with specials would have done
    assert.equal(
      applyChatTemplate(tok, [USER], { templateName: "chatml" }),
      "<|im_start|>user\nWhat is 7 * 6?\n<|im_end|>\n",
    );
    assert.throws(
      () => applyChatTemplate(tok, [USER], { templateName: "tool_use" }),
      /no chat template named "tool_use"; this tokenizer has "default", "chatml"/,
    );
    assert.deepEqual(chatStopIds(tok), [4]);
  });
});
