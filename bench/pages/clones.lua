-- a slow page: 10 ms of waiting; clones let every worker run it at once
function main(env, req)
  os.execute("sleep 0.01")
  req:puts("slept\n")
end
