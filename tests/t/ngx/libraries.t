# Real OpenResty libraries, unchanged, from Debian's packages (fetched with
# apt-get download and unpacked with dpkg -x here: they depend on
# nginx-extras, so they are not installed): lua-nginx-cookie runs as it
# runs under ngx_lua, differentially. lua-resty-lrucache and every module
# of lua-nginx-string are built on LuaJIT's ffi, which luafcgid's sandbox
# does not load by default: they fail at require, and the error says why
# (ffi-libraries.t runs them with the ffi key on).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use Test::More;
use LFTest qw(slurp);
use LFNgx;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();
my $debs = tempdir('lf-debs.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $debs;     # apt's download user writes here
my @packages = qw(lua-nginx-cookie lua-nginx-string lua-resty-lrucache);
system("cd $debs && apt-get download @packages >/dev/null 2>&1") == 0
    or plan skip_all => "cannot download @packages (no Debian mirror?)";

my $h = LFNgx->new(scripts => {
    'dump.lua' => slurp("$FindBin::Bin/corpus/dump.lua"),
    'cookie.lua' => <<'LUA',
local dump = require "dump"
local ck = require "nginx.cookie"
local cookie, err = ck:new()
local set1 = cookie:set({ key = "name", value = "bob", path = "/", domain = "example.com",
                          secure = true, httponly = true, max_age = 50, samesite = "Strict",
                          extension = "x=y" })
local set2 = cookie:set({ key = "second", value = "2" })
local _, set3 = cookie:set({ key = "novalue" })
ngx.say(tostring(err))
ngx.say(dump(cookie:get_all()))
ngx.say(tostring(cookie:get("session")), " ", tostring(cookie:get("none")))
ngx.say(tostring(set1), " ", tostring(set2), " ", tostring(set3))
LUA
    'ffi_libs.lua' => <<'LUA',
-- differ: body | ^false[^\n]*module 'ffi' is not available in luafcgid: it reads and writes any memory
for _, name in ipairs({ "resty.lrucache", "nginx.string", "nginx.sha256", "nginx.aes" }) do
  local ok, err = pcall(require, name)
  ngx.say(ok, " ", (tostring(err):gsub("\n.*", "")))
end
LUA
});
for my $deb (glob "$debs/*.deb") {
    system('dpkg', '-x', $deb, "$debs/x") == 0 or die "dpkg -x $deb failed\n";
}
system("cp -R $debs/x/usr/share/lua/5.1/. " . $h->www . '/') == 0 or die "cannot copy the modules\n";
$h->start;

$h->compare('cookie.lua', name => 'lua-nginx-cookie: reading and setting cookies',
            headers => { Cookie => 'session=abc123; theme=dark; empty=' });
$h->compare('ffi_libs.lua', name => 'lua-resty-lrucache and lua-nginx-string need ffi, and say so',
            differ => { body => qr/^false[^\n]*module 'ffi' is not available in luafcgid: it reads and writes any memory/ });
$h->stop;
done_testing;
