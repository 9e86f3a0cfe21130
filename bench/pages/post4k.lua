function main(env, req)
  req:header("Content-Type", "text/plain")
  req:puts(#(req:gets() or ""))
end
