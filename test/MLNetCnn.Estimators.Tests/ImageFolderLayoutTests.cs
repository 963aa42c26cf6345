using Microsoft.ML;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Layouts a user's own folders come in that are not one sub-folder per class: an outside sweep with such folders found
/// them read silently as if they were.
/// </summary>
[TestClass]
public sealed class ImageFolderLayoutTests
{
    private string _root = string.Empty;

    [TestInitialize]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("mlnetcnn-layout-").FullName;

    [TestCleanup]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    private string Images(string folder, int count)
    {
        string path = Path.Combine(_root, folder);
        Directory.CreateDirectory(path);
        for (int i = 0; i < count; i++)
        {
            File.WriteAllBytes(Path.Combine(path, $"{i}.png"), ImageFolderWalkTests.Png((byte)(40 * i)));
        }

        return path;
    }

    [TestMethod]
    public void ADataSetSplitIntoTrainAndValIsRefusedNamingTheSplits()
    {
        // ImageNet's layout: before, the root trained a two-class model, "train" against "val", with no word.
        foreach (string split in new[] { "train", "val" })
        {
            Images(Path.Combine(split, "n01440764"), 2);
            Images(Path.Combine(split, "n01443537"), 2);
        }

        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, "split into 'train' and 'val', not one sub-folder per class: they hold the same sub-folders 'n01440764', 'n01443537', so read as it is, its classes would be 'train' and 'val'.");
        StringAssert.Contains(e.Message, $"Give the training split '{Path.Combine(_root, "train")}' as the image folder, and '{Path.Combine(_root, "val")}', if it holds class folders too, as test data.");

        var train = ImageFolder.Load(new MLContext(), Path.Combine(_root, "train"));
        CollectionAssert.AreEqual(new[] { "n01440764", "n01443537" }, train.ClassNames.ToList());
    }

    [TestMethod]
    public void ALabelledTrainingSplitBesideAnUnlabelledTestSplitIsRefused()
    {
        // Kaggle's layout: train/cats, train/dogs and a flat, unlabelled test/.
        Images(Path.Combine("train", "cats"), 2);
        Images(Path.Combine("train", "dogs"), 2);
        Images("test", 3);

        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, "split into 'test' and 'train', not one sub-folder per class: 'train' holds the sub-folders 'cats', 'dogs'");
        StringAssert.Contains(e.Message, $"Give the training split '{Path.Combine(_root, "train")}' as the image folder");
    }

    [TestMethod]
    public void ATestSplitKeptInsideTheDataIsRefused()
    {
        // photos/cat, photos/dog and photos/test/{cat,dog}: "test" was one more class, holding cats and dogs.
        Images("cat", 2);
        Images("dog", 2);
        Images(Path.Combine("test", "cat"), 1);
        Images(Path.Combine("test", "dog"), 1);

        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, "class folder 'test' holds only sub-folders named as its other classes ('cat', 'dog')");
        StringAssert.Contains(e.Message, $"Move '{Path.Combine(_root, "test")}' out of the folder (and give it as test data).");
    }

    [TestMethod]
    public void ClassesNamedAsSplitsWithoutSharedSubFoldersStillLoad()
    {
        // Pictures of trains and of tests, one of them sorted into a sub-folder: classes, not splits.
        Images("train", 2);
        Images(Path.Combine("test", "2024"), 2);
        Images("Val", 1);

        var data = ImageFolder.Load(new MLContext(), _root);
        CollectionAssert.AreEqual(new[] { "Val", "test", "train" }, data.ClassNames.ToList());
        Assert.AreEqual(5, data.ImageCount);
    }

    [TestMethod]
    public void ImagesWithoutClassFoldersAreCountedAndTheLayoutExplained()
    {
        // Before: "found 0 with 0 images" for a folder of 3 images, as if it were empty.
        string cat = Images("cat", 3);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), cat));
        StringAssert.Contains(e.Message, "found 0 with 0 images. 3 images lie directly in it, outside any class folder, and are not read: put each class's images in a sub-folder named after the class.");

        // A test folder given as one of its classes: the folder that holds it is the one to give.
        e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.LoadLabelled(new MLContext(), cat, ["cat", "dog"]));
        StringAssert.Contains(e.Message, $"3 images lie directly in it");
        StringAssert.Contains(e.Message, $"'{cat}' is named as a class: give the folder holding it, '{_root}'.");
    }

    [TestMethod]
    public void AFolderHoldingTheClassFoldersOneLevelDownNamesTheFolderToGive()
    {
        // A zip unpacked into a folder of its own name: photos/photos/cat, photos/photos/dog, and macOS's __MACOSX beside.
        Images(Path.Combine("photos", "cat"), 2);
        Images(Path.Combine("photos", "dog"), 2);
        Directory.CreateDirectory(Path.Combine(_root, "__MACOSX", "photos", "cat"));
        File.WriteAllBytes(Path.Combine(_root, "__MACOSX", "photos", "cat", "._0.png"), [0, 5, 22, 7]);

        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, $"found 1 with 4 images. Its one class folder 'photos' holds the sub-folders 'cat', 'dog': if they are the classes, give '{Path.Combine(_root, "photos")}'.");
    }

    [TestMethod]
    public void ATrainingRunsOutputLeftInsideTheDataIsRefusedNotReadAsAClass()
    {
        // Output folders that earlier versions let `train --output` write inside --data: the next run read the run's
        // loss.png, accuracy.png and confusion.png as images of one more class ("runs"), or of the class holding them.
        Images("cat", 2);
        Images("dog", 2);
        string run = Images(Path.Combine("runs", "1"), 3);
        File.WriteAllBytes(Path.Combine(run, "model.zip"), [0x50, 0x4b, 5, 6]);
        File.WriteAllText(Path.Combine(run, "metrics.json"), "{}");

        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, $"Folder '{run}', read for class 'runs', holds model.zip and metrics.json, as a training run's output does: its 3 images would be read as images of class 'runs'. Move it out of the image folder.");

        // The same inside a class folder, and in a labelled test folder.
        Directory.Move(Path.Combine(_root, "runs"), Path.Combine(_root, "cat", "runs"));
        e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.Load(new MLContext(), _root));
        StringAssert.Contains(e.Message, $"read for class 'cat', holds model.zip and metrics.json");
        e = Assert.ThrowsExactly<InvalidDataException>(() => ImageFolder.LoadLabelled(new MLContext(), _root, ["cat", "dog"]));
        StringAssert.Contains(e.Message, $"read for class 'cat', holds model.zip and metrics.json");

        // A model kept beside a class's images without a run's metrics is only an ignored file.
        File.Delete(Path.Combine(_root, "cat", "runs", "1", "metrics.json"));
        Assert.AreEqual(7, ImageFolder.Load(new MLContext(), _root).ImageCount);
    }
}
