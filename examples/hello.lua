-- The smallest script: a handler that writes a line.
function main(env, req)
  req:header("Content-Type", "text/plain")
  req:puts("Hello from luafcgid!\n")
end
