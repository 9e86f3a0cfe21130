# tools/layers on a tree of two modules: the tree as it should be passes,
# and a quoted include it cannot find fails the check, as a typo must,
# rather than being taken for a system header and its edge lost.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use LFTest qw(spew);

my $layers = LFTest::top() . '/tools/layers';
my $cc = LFTest::cc();
plan skip_all => 'needs a C compiler and nm' unless $cc && `command -v nm 2>/dev/null`;

# A tree with core/buf (a header and its .c) and conf/conf standing on it,
# conf.c including INCLUDE; its objects built. tools/layers' output and
# exit code, run from its top.
sub layers_on {
    my ($include) = @_;
    my $top = tempdir(CLEANUP => 1);
    make_path("$top/include", "$top/src/core", "$top/src/conf");
    spew("$top/src/core/buf.h", "int buf_size(void);\n");
    spew("$top/src/core/buf.c", "#include \"buf.h\"\nint buf_size(void) { return 1; }\n");
    spew("$top/src/conf/conf.h", "int conf_load(void);\n");
    my $conf_c = sub {
        spew("$top/src/conf/conf.c", "#include <stdio.h>\n#include \"conf.h\"\n#include \"$_[0]\"\n"
             . "int conf_load(void) { return buf_size(); }\n");
    };
    $conf_c->('buf.h');    # a typo would not compile: the objects are of the tree before it
    for my $c ("src/core/buf.c", "src/conf/conf.c") {
        (my $o = $c) =~ s/\.c$/.o/;
        system($cc, '-c', "-I$top/src/core", "-I$top/src/conf", '-o', "$top/$o", "$top/$c") == 0
            or BAIL_OUT("cc $c failed");
    }
    $conf_c->($include);
    my $out = `cd '$top' && perl '$layers' 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = layers_on('buf.h');
is($rc, 0, 'a tree whose quoted includes are all in it passes') or diag($out);
like($out, qr/no circle/, '... and says so');

($rc, $out) = layers_on('bfu.h');
is($rc, 1, 'a quoted include of a header the tree does not hold fails') or diag($out);
like($out, qr{include: src/conf/conf\.c includes "bfu\.h", which is not in the tree},
     '... naming the file and the header');

done_testing();
