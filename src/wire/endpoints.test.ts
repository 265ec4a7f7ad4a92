import { describe, expect, it } from 'vitest';
import { bodyFormatOf, classifyEndpoint, isBilled, operationOf } from './endpoints.js';

describe('endpoint classification', () => {
  it('classifies the POSTs whose text the gateway reads, a trailing slash aside', () => {
    expect(classifyEndpoint('POST', '/chat/completions')).toBe('chat.completions');
    expect(classifyEndpoint('POST', '/chat/completions/')).toBe('chat.completions');
    expect(classifyEndpoint('POST', '/responses')).toBe('responses');
    expect(classifyEndpoint('POST', '/responses/compact')).toBe('responses.compact');
    expect(classifyEndpoint('POST', '/responses/input_tokens')).toBe('responses.input_tokens');
    expect(classifyEndpoint('POST', '/conversations')).toBe('conversations');
    expect(classifyEndpoint('POST', '/conversations/conv_1/items')).toBe('conversations.items');
    expect(classifyEndpoint('POST', '/files')).toBe('files');
    expect(classifyEndpoint('POST', '/batches')).toBe('batches');
    expect(classifyEndpoint('POST', '/audio/speech')).toBe('audio.speech');
  });

  it('leaves every other request as other: reads, deletes, actions and paths it does not read', () => {
    expect(classifyEndpoint('GET', '/chat/completions')).toBe('other');
    expect(classifyEndpoint('DELETE', '/conversations/conv_1/items')).toBe('other');
    expect(classifyEndpoint('POST', '/conversations//items')).toBe('other');
    expect(classifyEndpoint('POST', '/conversations/conv_1/items/item_1')).toBe('other');
    expect(classifyEndpoint('POST', '/responses/resp_1/cancel')).toBe('other');
    expect(classifyEndpoint('POST', '/assistants')).toBe('other');
    expect(classifyEndpoint('POST', '/vector_stores/vs_1/search')).toBe('other');
    expect(classifyEndpoint('POST', '/Chat/Completions')).toBe('other');
  });

  it("records reads and deletes under their API family's operation", () => {
    expect(operationOf(classifyEndpoint('GET', '/responses/resp_1'), '/responses/resp_1')).toBe('response');
    expect(operationOf('other', '/conversations/conv_1')).toBe('response');
    expect(operationOf('other', '/chat/completions/cc_1/messages')).toBe('chat');
    expect(operationOf('other', '/images/x')).toBe('image');
    expect(operationOf('other', '/batches/b_1')).toBe('other');
    expect(operationOf('other', '/constructor')).toBe('other');
    expect(operationOf('files', '/files')).toBe('other');
  });

  it('knows the body each endpoint takes and which calls upstream bills', () => {
    expect(bodyFormatOf('chat.completions')).toBe('json');
    expect(bodyFormatOf('audio.transcriptions')).toBe('multipart');
    expect(bodyFormatOf('images.edits')).toBe('either');
    expect(bodyFormatOf('other')).toBeNull();
    expect(isBilled('responses')).toBe(true);
    expect(isBilled('conversations.items')).toBe(false);
    expect(isBilled('other')).toBe(false);
  });
});
