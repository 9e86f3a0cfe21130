function main(env, req)
  req:header("Content-Type", "text/plain")
  req:puts("hello\n")
end
