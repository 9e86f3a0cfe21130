# ngx.req.append_body writes to the file init_body made, through the
# descriptor it made it with: a script that replaces the file (whose name
# get_body_file gives) with a symlink does not get the appends written
# where the link points, past the pathguard io.open goes through.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(slurp);

my $t = LFTest->new(conf => { workers => 2, timeout => 5 });
my $victim = $t->dir . '/victim';
open(my $fh, '>', $victim) or die "$victim: $!";
print $fh "orig\n";
close $fh;
$t->script('sym.lua', <<"LUA");
ngx.req.read_body()
ngx.req.init_body(0)
ngx.req.append_body("a")
local p = ngx.req.get_body_file()
os.remove(p)
os.execute("ln -s '$victim' '" .. p .. "'")
ngx.say(pcall(ngx.req.append_body, "pwned"))
ngx.say(pcall(ngx.req.finish_body))
ngx.say(p)
LUA
$t->script('read.lua', <<"LUA");
ngx.req.read_body()
local p = ngx.req.get_body_file()
os.remove(p)
os.execute("ln -s '$victim' '" .. p .. "'")
ngx.say(pcall(ngx.req.append_body, "pwned"))
LUA
$t->start;
my $big = $t->get('read.lua', STDIN => 'x' x 200000);
like($big->{body}, qr/\Atrue\n\z/, 'append_body goes on with a body read_body put in a file') or diag($big->{body});
is(slurp($victim), "orig\n", 'nor through a symlink put in place of that file');
my $r = $t->get('sym.lua', STDIN => 'x');
like($r->{body}, qr/\Atrue\ntrue\n\//, 'the appends after the swap succeed, as nginx keeps its file open')
    or diag($r->{body});
is(slurp($victim), "orig\n", 'nothing was written through the symlink');
my ($path) = $r->{body} =~ /^(\/.*)$/m;
my $pid = LFTest::serving_pid($t);
my $open = sub {
    opendir(my $d, "/proc/$pid/fd") or return 0;
    return grep { index(readlink("/proc/$pid/fd/$_") // '', $path) == 0 } readdir $d;
};
ok(LFTest::wait_for(sub { !$open->() }, 5), 'the file is closed once the request has ended');
is($t->stop, 0, 'stopped cleanly');
done_testing();
