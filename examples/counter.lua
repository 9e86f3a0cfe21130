-- Top-level code runs once per state; globals live across requests.
loaded_at = os.date("%Y-%m-%d %H:%M:%S")
hits = 0

function main(env, req)
  hits = hits + 1
  req:header("Content-Type", "text/plain")
  req:header("Cache-Control", "no-store")
  req:puts("This state was loaded at ", loaded_at, " and has served ", hits, " request",
           hits == 1 and "" or "s", ".\n",
           "Reload the page: the count grows. Edit this file: it starts over.\n")
end
