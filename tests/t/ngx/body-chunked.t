# ngx.req.read_body on a chunked request whose Content-Length or
# Transfer-Encoding the script changed first, against OpenResty's: the same
# script run by Debian's ngx_lua and by luafcgid behind the same nginx
# (tests/lib/LFNgx.pm), asked with chunked bytes written here (the corpus
# client sends a length). nginx reads a chunked body whole whatever
# Content-Length says, in memory or, past its buffer, in a file; a
# Content-Length cleared before the body is read leaves $content_length
# nil until then, and nginx's count of the body after; cleared after, nil.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFNgx;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();

my $lua = <<'LUA';
local a = ngx.req.get_uri_args()
if a.cl == "clear" then ngx.req.clear_header("Content-Length")
elseif a.cl then ngx.req.set_header("Content-Length", a.cl) end
if a.te then ngx.req.clear_header("Transfer-Encoding") end
if a.v0 then ngx.say("before ", tostring(ngx.var.content_length)) end
if not a.nr then ngx.req.read_body() end
if a.post then ngx.req.clear_header("Content-Length") end
local d, f = ngx.req.get_body_data(), ngx.req.get_body_file()
ngx.say(d and #d or "nil", " ", d and d:sub(1, 10) or "", " ", f and "file" or "nofile")
if f then local h = io.open(f, "rb"); local x = h:read("*a"); h:close(); ngx.say(#x) end
local rb = ngx.var.request_body
ngx.say(rb and #rb or "nil", " ", tostring(ngx.var.content_length), " ", tostring(ngx.var.http_content_length))
local ok, args = pcall(ngx.req.get_post_args)
local n = 0
for _ in pairs(ok and args or {}) do n = n + 1 end
ngx.say("args ", tostring(ok), " ", n)
LUA

# the same, as a sequence of steps: ops=clear,var,read,var
my $ops = <<'LUA';
for op in ngx.req.get_uri_args().ops:gmatch("[^,]+") do
  if op == "clear" then ngx.req.clear_header("Content-Length")
  elseif op == "set3" then ngx.req.set_header("Content-Length", "3")
  elseif op == "set0" then ngx.req.set_header("Content-Length", "0")
  elseif op == "read" then ngx.req.read_body()
  elseif op == "discard" then ngx.req.discard_body()
  elseif op == "var" then ngx.say("var ", tostring(ngx.var.content_length))
  elseif op == "data" then
    local d = ngx.req.get_body_data()
    ngx.say("data ", d and #d or "nil", " file ", tostring(ngx.req.get_body_file() ~= nil))
  end
end
LUA

my $h = LFNgx->new(scripts => { 'c.lua' => $lua, 'ops.lua' => $ops });
$h->start;
my $big = join('', map { chr(65 + $_ % 26) } 1 .. 40000);
my $small = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
my $bigc = join('', map { sprintf("%x\r\n%s\r\n", 4000, substr($big, $_ * 4000, 4000)) } 0 .. 9) . "0\r\n\r\n";
# PATH?QUERY asked of both with a small and a big chunked body
sub both {
    my ($target) = @_;
    for my $body (["small", $small], ["big", $bigc]) {
        my $req = "POST /$target HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                . "Transfer-Encoding: chunked\r\n\r\n$body->[1]";
        my $or = $h->request_raw('or', $req);
        my $lf = $h->request_raw('lf', $req);
        is($lf->{body}, $or->{body}, "chunked $body->[0], $target")
            or diag("ngx_lua:\n$or->{body}\nluafcgid:\n$lf->{body}");
    }
}
both("c.lua?$_") for qw(none cl=clear cl=3 cl=0 cl=100000 te=1 cl=3&te=1 cl=clear&v0=1 post=1 cl=clear&nr=1);
# (a chunked body's length before read_body is the README's difference:
# the web server sends its count of the body it read whole)
both("ops.lua?ops=$_") for ('clear,var,read,var', 'read,var,clear,var', 'set3,clear,var,read,var',
                            'clear,var,var,read,var,var', 'read,clear,var,read,var', 'set0,clear,read,var',
                            'discard,read,data', 'clear,discard,read,data', 'set3,discard,read,data');
# a discarded chunked body's length is 0; ngx_lua's counts what its
# discard had read so far, which depends on when the bytes came: only
# luafcgid's answer is checked
for my $q (['discard,var', "var 0\n"], ['clear,discard,var,read,var', "var 0\nvar 0\n"]) {
    my $lf = $h->request_raw('lf', "POST /ops.lua?ops=$q->[0] HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             . "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n$bigc");
    is($lf->{body}, $q->[1], "chunked big, $q->[0]: luafcgid's 0");
}
$h->stop;
done_testing;
