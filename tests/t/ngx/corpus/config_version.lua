-- ngx.config's versions: nginx's (1.22.1 is 1022001) and ngx_lua's, as numbers.
ngx.say(type(ngx.config.nginx_version), " ", ngx.config.nginx_version)
ngx.say(type(ngx.config.ngx_lua_version), " ", ngx.config.ngx_lua_version)
