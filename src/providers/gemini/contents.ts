// Gemini's API as the gateway reads it, in its own shape: every text a model reads in a
// request (the system instruction, contents of every role, function descriptions), the
// output cap, and the answer's texts — each with a setter, so a redaction changes those
// characters and nothing else of the request.
import { array, isObject, type Json } from '../../wire/json.js';
import type { AnswerText, PromptText } from '../../wire/prompt.js';

/** A Content's text parts (the model's own thoughts sent back aside). */
function parts(content: unknown, role: string, out: PromptText[]): void {
  if (!isObject(content)) return;
  for (const part of array(content.parts)) {
    if (!isObject(part) || part.thought === true || typeof part.text !== 'string') continue;
    out.push({ text: part.text, role, set: (next) => (part.text = next) });
  }
}

/** The system instruction: a Content, or a string as the SDKs also send it. */
function systemInstruction(body: Json, out: PromptText[]): void {
  if (typeof body.systemInstruction === 'string') {
    out.push({ text: body.systemInstruction, role: 'system', set: (next) => (body.systemInstruction = next) });
  } else parts(body.systemInstruction, 'system', out);
}

/** The request of generateContent, cachedContents and countTokens: tools, system, contents. */
function generateRequest(body: Json, out: PromptText[]): void {
  for (const tool of array(body.tools)) {
    if (!isObject(tool)) continue;
    for (const declaration of array(tool.functionDeclarations)) {
      if (isObject(declaration) && typeof declaration.description === 'string') {
        out.push({ text: declaration.description, role: 'tools', set: (next) => (declaration.description = next) });
      }
    }
  }
  systemInstruction(body, out);
  for (const content of array(body.contents)) {
    const role = isObject(content) && content.role === 'model' ? 'assistant' : 'user';
    parts(content, role, out);
  }
}

/** Every text of a generateContent, countTokens or cachedContents request. */
export function generatePromptTexts(body: Json, out: PromptText[]): void {
  generateRequest(body, out);
  // countTokens may wrap a whole generateContent request.
  if (isObject(body.generateContentRequest)) generateRequest(body.generateContentRequest, out);
}

/** Every text of an embedContent or batchEmbedContents request. */
export function embedPromptTexts(body: Json, out: PromptText[]): void {
  parts(body.content, 'user', out);
  for (const request of array(body.requests)) if (isObject(request)) parts(request.content, 'user', out);
}

/** The text parts of each candidate of an answer. */
export function generateAnswerTexts(answer: Json, visit: (text: AnswerText) => void): void {
  for (const candidate of array(answer.candidates)) {
    if (!isObject(candidate) || !isObject(candidate.content)) continue;
    for (const part of array(candidate.content.parts)) {
      if (isObject(part) && part.thought !== true && typeof part.text === 'string') {
        visit({ text: part.text, set: (next) => (part.text = next) });
      }
    }
  }
}

/**
 * The most output tokens the request allows: `generationConfig.maxOutputTokens`, plus the
 * thinking budget when one is set (thinking tokens are billed as output); undefined when
 * no cap is set.
 */
export function generateOutputCap(body: Json): unknown {
  const config = isObject(body.generationConfig) ? body.generationConfig : {};
  const cap = config.maxOutputTokens;
  const thinking = isObject(config.thinkingConfig) ? config.thinkingConfig.thinkingBudget : undefined;
  if (typeof cap === 'number' && typeof thinking === 'number' && thinking > 0) return cap + thinking;
  return cap;
}
