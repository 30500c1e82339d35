// DOM nodes built from text only: what a guide, a model or a user writes never becomes markup.

/** An element with an optional class and text content. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
