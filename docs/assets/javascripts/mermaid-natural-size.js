// Diagrams are drawn at their natural size, their labels as large as the body text,
// instead of being scaled down to the width of the column (Mermaid's useMaxWidth),
// which left the labels of a wide diagram a few pixels high. The theme calls
// mermaid.initialize() itself when a page shows a diagram: its settings are
// completed here, before that. A diagram wider than the column scrolls sideways
// (assets/stylesheets/theme.css).
(() => {
  const initialize = mermaid.initialize.bind(mermaid);
  const natural = { useMaxWidth: false };
  mermaid.initialize = (config = {}) =>
    initialize({
      ...config,
      flowchart: { ...config.flowchart, ...natural },
      sequence: { ...config.sequence, ...natural },
    });
})();
