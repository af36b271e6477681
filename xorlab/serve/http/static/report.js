// The report page's form: send the point to the KServe V1 predict API and show the answer in the
// page. Without JavaScript the form posts to the page itself, which renders the same answer.
"use strict";

function describe(model, x1, x2, p) {
  return `${model}(${x1}, ${x2}): P(y=1) = ${p.toFixed(4)} \u2192 class ${p > 0.5 ? 1 : 0}`;
}

async function predict(form, output) {
  const data = new FormData(form);
  const x1 = Number(data.get("x1"));
  const x2 = Number(data.get("x2"));
  const model = String(data.get("model"));
  output.classList.remove("error");
  output.textContent = `asking ${model}\u2026`;
  try {
    const response = await fetch(`/v1/models/${encodeURIComponent(model)}:predict`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ instances: [[x1, x2]] }),
    });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(body.error || `HTTP ${response.status}`);
    }
    output.textContent = describe(model, x1, x2, body.predictions[0]);
  } catch (error) {
    output.classList.add("error");
    output.textContent = `No answer: ${error.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("predict-form");
  const output = document.getElementById("answer");
  if (!form || !output) {
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    predict(form, output);
  });
});
