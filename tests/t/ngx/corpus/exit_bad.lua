for _, v in ipairs({ ngx.AGAIN, ngx.DONE }) do
  local ok, err = pcall(ngx.exit, v)
  ngx.say(ok, " ", err)
end

